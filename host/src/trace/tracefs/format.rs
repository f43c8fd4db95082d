//! `events/<system>/<event>/format` files: an event's id and where each
//! field sits in its raw record.

/// How a field's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer of 1, 2, 4 or 8 bytes.
    Int,
    /// A fixed `char name[N]` array holding a NUL-padded string.
    Chars,
    /// `__data_loc char[] name`: a u32 with the string's offset (low 16
    /// bits) and length (high 16 bits) in the record.
    DataLoc,
    /// `char name[]` of size 0: the string runs to the end of the record.
    Tail,
}

/// One field of an event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: usize,
    pub size: usize,
    pub signed: bool,
    pub kind: FieldKind,
}

/// One event's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub name: String,
    pub id: u16,
    pub fields: Vec<Field>,
}

/// A format file that does not read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("event format without a {0} line")]
    Missing(&'static str),
    #[error("event format line {0:?} does not parse")]
    BadField(String),
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, FormatError> {
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        let name = value("name:").ok_or(FormatError::Missing("name"))?;
        let id = value("ID:")
            .and_then(|v| v.parse().ok())
            .ok_or(FormatError::Missing("ID"))?;
        let fields = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("field:"))
            .map(parse_field)
            .collect::<Result<_, _>>()?;
        Ok(Format { name, id, fields })
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// `field:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;`
fn parse_field(line: &str) -> Result<Field, FormatError> {
    let bad = || FormatError::BadField(line.to_string());
    let mut parts = line.split(';').map(str::trim);
    let decl = parts
        .next()
        .and_then(|d| d.strip_prefix("field:"))
        .ok_or_else(bad)?;
    let mut num = |key: &str| -> Result<usize, FormatError> {
        parts
            .next()
            .and_then(|p| p.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(bad)
    };
    let offset = num("offset:")?;
    let size = num("size:")?;
    let signed = num("signed:")? != 0;
    let decl = decl.trim();
    let (before_bracket, array) = match decl.split_once('[') {
        Some((b, _)) if !decl.starts_with("__data_loc") => (b, true),
        _ => (decl, false),
    };
    let name = before_bracket
        .rsplit(|c: char| c.is_whitespace() || c == '*')
        .next()
        .filter(|n| !n.is_empty() && !n.contains(']'))
        .ok_or_else(bad)?
        .to_string();
    let kind = if decl.starts_with("__data_loc") {
        FieldKind::DataLoc
    } else if array && size == 0 {
        FieldKind::Tail
    } else if array {
        FieldKind::Chars
    } else {
        FieldKind::Int
    };
    Ok(Field {
        name,
        offset,
        size,
        signed,
        kind,
    })
}

impl Field {
    /// The integer value in `rec`, sign-extended when the field is signed.
    pub fn int(&self, rec: &[u8]) -> Option<i64> {
        let b = rec.get(self.offset..self.offset + self.size)?;
        let mut word = [0u8; 8];
        if b.len() > 8 {
            return None;
        }
        word[..b.len()].copy_from_slice(b);
        let v = u64::from_le_bytes(word);
        let bits = b.len() as u32 * 8;
        Some(if self.signed && bits < 64 {
            let shift = 64 - bits;
            ((v << shift) as i64) >> shift
        } else {
            v as i64
        })
    }

    /// The string value in `rec` (up to the first NUL, lossy UTF-8).
    pub fn text(&self, rec: &[u8]) -> Option<String> {
        let bytes = match self.kind {
            FieldKind::Chars => rec.get(self.offset..self.offset + self.size)?,
            FieldKind::Tail => rec.get(self.offset..)?,
            FieldKind::DataLoc => {
                let loc = self.int(rec)? as u32;
                let (off, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
                rec.get(off..off + len)?
            }
            FieldKind::Int => return None,
        };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }
}
