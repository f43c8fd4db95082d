//! Reading a scenario file (TOML, or JSON by extension) with errors that
//! point at the file, line, column and field, and suggest the nearest
//! valid name when a key, variant or op is misspelt.

use std::fmt;

/// Where a problem is in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A file that does not parse into a scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}{hint}")]
pub struct SyntaxError {
    pub at: Location,
    pub message: String,
    /// ` (did you mean "x"?)` or empty.
    pub hint: String,
}

/// The format of a scenario text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// JSON for `*.json`, TOML otherwise.
    pub fn of(path: &str) -> Format {
        if path.ends_with(".json") {
            Format::Json
        } else {
            Format::Toml
        }
    }
}

/// Parses `text` (named `file` in errors) into a scenario, or any other
/// file ktstr-vm reads the same way (the matrix plan).
pub fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
    format: Format,
) -> Result<T, SyntaxError> {
    match format {
        Format::Toml => toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            located(file, line, column, e.message())
        }),
        Format::Json => serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            let message = full
                .rsplit_once(" at line ")
                .map_or(full.as_str(), |(m, _)| m)
                .to_string();
            located(file, e.line().max(1), e.column().max(1), &message)
        }),
    }
}

fn located(file: &str, line: usize, column: usize, message: &str) -> SyntaxError {
    SyntaxError {
        at: Location {
            file: file.to_string(),
            line,
            column,
        },
        message: message.trim().to_string(),
        hint: hint(message),
    }
}

/// 1-based line and column of byte `offset`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// serde says "unknown field `x`, expected one of `a`, `b`" (or "unknown
/// variant"); suggest the closest of the names it lists.
fn hint(message: &str) -> String {
    let Some(rest) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.split_once(p).map(|(_, r)| r))
    else {
        return String::new();
    };
    let Some((name, after)) = rest.split_once('`') else {
        return String::new();
    };
    let valid: Vec<&str> = after.split('`').skip(1).step_by(2).collect();
    ktstr_wire::suggest(name, &valid)
}
