//! The protobuf wire format, both ways, for the few Perfetto messages the
//! trace needs. Hand-written instead of a protobuf crate: the writer needs
//! varints, strings and nested messages only, and a generated Perfetto
//! binding would pull in the whole (700 KB) trace schema and a build step.
//!
//! [`Msg`] encodes; [`fields`] walks an encoded message field by field,
//! bounds-checked, for the trace reader and the tests.

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// One message being encoded.
#[derive(Debug, Default, Clone)]
pub struct Msg {
    buf: Vec<u8>,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }

    fn tag(&mut self, field: u32, wire: u8) {
        put_varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// `uint32/uint64/bool/enum` (and `int32/int64`, two's complement).
    pub fn varint(&mut self, field: u32, v: u64) -> &mut Msg {
        self.tag(field, VARINT);
        put_varint(&mut self.buf, v);
        self
    }

    pub fn int(&mut self, field: u32, v: i64) -> &mut Msg {
        self.varint(field, v as u64)
    }

    pub fn fixed64(&mut self, field: u32, v: u64) -> &mut Msg {
        self.tag(field, FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Msg {
        self.tag(field, LEN);
        put_varint(&mut self.buf, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    pub fn str(&mut self, field: u32, s: &str) -> &mut Msg {
        self.bytes(field, s.as_bytes())
    }

    pub fn msg(&mut self, field: u32, m: &Msg) -> &mut Msg {
        self.bytes(field, &m.buf)
    }

    /// A nested message built by `f`.
    pub fn with(&mut self, field: u32, f: impl FnOnce(&mut Msg)) -> &mut Msg {
        let mut m = Msg::new();
        f(&mut m);
        self.msg(field, &m)
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// One decoded field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Varint(v) | Value::Fixed64(v) => Some(v),
            Value::Fixed32(v) => Some(u64::from(v)),
            Value::Bytes(_) => None,
        }
    }

    /// `int32` fields are sign-extended varints.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_u64().map(|v| v as i64)
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// Input that is not a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("protobuf: truncated at byte {0}")]
    Truncated(usize),
    #[error("protobuf: varint too long at byte {0}")]
    LongVarint(usize),
    #[error("protobuf: unsupported wire type {wire} at byte {at}")]
    WireType { wire: u8, at: usize },
}

/// Walks the fields of one encoded message.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
    failed: bool,
}

pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields {
        buf,
        at: 0,
        failed: false,
    }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.at)
                .ok_or(DecodeError::Truncated(self.at))?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError::LongVarint(start))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(DecodeError::Truncated(self.at))?;
        let s = self
            .buf
            .get(self.at..end)
            .ok_or(DecodeError::Truncated(self.at))?;
        self.at = end;
        Ok(s)
    }

    fn field(&mut self) -> Result<(u32, Value<'a>), DecodeError> {
        let at = self.at;
        let key = self.varint()?;
        let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let value = match wire {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => {
                let b = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            LEN => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| DecodeError::Truncated(self.at))?;
                Value::Bytes(self.take(n)?)
            }
            FIXED32 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
            }
            wire => return Err(DecodeError::WireType { wire, at }),
        };
        Ok((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), DecodeError>;

    /// The next field; after an error, nothing more.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.buf.len() {
            return None;
        }
        let r = self.field();
        self.failed = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(buf: &[u8]) -> Vec<(u32, Value<'_>)> {
        fields(buf).collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn scalars_round_trip() {
        let cases: &[(u32, u64)] = &[
            (1, 0),
            (2, 1),
            (3, 127),
            (4, 128),
            (5, 300),
            (15, 1 << 35),
            (16, u64::MAX),
            (536_870_911, 7),
        ];
        for &(field, v) in cases {
            let mut m = Msg::new();
            m.varint(field, v);
            assert_eq!(
                all(m.as_bytes()),
                [(field, Value::Varint(v))],
                "field {field} value {v}"
            );
        }
        let mut m = Msg::new();
        m.int(1, -1).fixed64(2, 0xdead_beef).str(3, "comm");
        let got = all(m.as_bytes());
        assert_eq!(got[0].1.as_i64(), Some(-1));
        assert_eq!(got[1], (2, Value::Fixed64(0xdead_beef)));
        assert_eq!(got[2].1.as_str(), Some("comm"));
    }

    #[test]
    fn known_encodings() {
        // Values from the protobuf encoding guide.
        let mut m = Msg::new();
        m.varint(1, 150);
        assert_eq!(m.as_bytes(), [0x08, 0x96, 0x01]);
        let mut m = Msg::new();
        m.str(2, "testing");
        assert_eq!(m.as_bytes(), b"\x12\x07testing");
        let mut m = Msg::new();
        m.with(3, |inner| {
            inner.varint(1, 150);
        });
        assert_eq!(m.as_bytes(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }

    #[test]
    fn nested_messages_round_trip() {
        let mut outer = Msg::new();
        outer.with(1, |p| {
            p.varint(8, 123_456_789).with(1, |b| {
                b.varint(1, 3);
            });
        });
        let (f, v) = all(outer.as_bytes())[0];
        assert_eq!(f, 1);
        let inner = all(v.as_bytes().unwrap());
        assert_eq!(inner[0], (8, Value::Varint(123_456_789)));
        assert_eq!(all(inner[1].1.as_bytes().unwrap()), [(1, Value::Varint(3))]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for (bytes, want) in [
            (&[0x08][..], DecodeError::Truncated(1)),
            (&[0x12, 0x05, b'a'][..], DecodeError::Truncated(2)),
            (&[0x0b][..], DecodeError::WireType { wire: 3, at: 0 }),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ][..],
                DecodeError::LongVarint(1),
            ),
        ] {
            let got: Vec<_> = fields(bytes).collect();
            assert_eq!(got.last(), Some(&Err(want.clone())), "{bytes:?}");
            assert!(got.iter().filter(|r| r.is_err()).count() == 1);
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            for f in fields(&bytes) {
                if let Ok((_, Value::Bytes(b))) = f {
                    let _ = fields(b).count();
                }
            }
        }
    }
}
