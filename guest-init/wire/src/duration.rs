//! One duration grammar for the command line, `--inject` faults and
//! scenario files: humantime's (`500ms`, `2s`, `1m 30s`, `1h`), plus one
//! number with a fraction and a unit (`1.5s`). Scenario files may also
//! write a plain integer, which is milliseconds. On the wire a duration is
//! always the integer of milliseconds, so the guest never parses units.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parses a duration written as on the command line. The error says what
/// to write instead.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let hint = "write e.g. 500ms, 2s, 1.5s, 1m or 1m 30s";
    let why = match humantime::parse_duration(t) {
        Ok(d) => return Ok(d),
        Err(humantime::DurationError::UnknownUnit { unit, .. }) if unit.is_empty() => {
            "it has no unit".to_string()
        }
        Err(humantime::DurationError::UnknownUnit { unit, .. }) => format!("unknown unit {unit:?}"),
        Err(_) => "it is not a duration".to_string(),
    };
    // humantime has no fractions: `1.5s` is one number and one unit.
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale_ms = match unit.trim() {
        "ms" => 1.0,
        "s" | "sec" | "secs" => 1_000.0,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hr" | "hrs" => 3_600_000.0,
        _ => return Err(format!("{text:?}: {why}; {hint}")),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && num.contains('.') => {
            Ok(Duration::from_micros((v * scale_ms * 1000.0).round() as u64))
        }
        _ => Err(format!("{text:?}: {why}; {hint}")),
    }
}

/// Milliseconds, written with a unit or as an integer of milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// Parses the [`parse_duration`] grammar.
    pub fn parse(text: &str) -> Result<Millis, String> {
        parse_duration(text).map(|d| Millis(d.as_millis().min(u64::MAX as u128) as u64))
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"500ms\", \"2s\" or an integer of milliseconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Millis, E> {
                Ok(Millis(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Millis, E> {
                u64::try_from(v)
                    .map(Millis)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Millis, E> {
                Millis::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ms if ms % 1000 == 0 => write!(f, "{}s", ms / 1000),
            ms => write!(f, "{ms}ms"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar() {
        let ok: &[(&str, u64)] = &[
            ("500ms", 500),
            ("2s", 2_000),
            ("1.5s", 1_500),
            ("1m", 60_000),
            ("1min", 60_000),
            ("1m 30s", 90_000),
            ("0s", 0),
            (" 3s ", 3_000),
            ("0.25m", 15_000),
        ];
        for (text, ms) in ok {
            assert_eq!(Millis::parse(text), Ok(Millis(*ms)), "{text}");
        }
        for bad in ["", "750", "ten", "-1s", "1.5", "1.5parsecs", "1..5s", "s"] {
            assert!(Millis::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn files_write_integers_or_strings() {
        let m: Millis = serde_json::from_str("750").unwrap();
        assert_eq!(m, Millis(750));
        let m: Millis = serde_json::from_str("\"1.5s\"").unwrap();
        assert_eq!(m, Millis(1_500));
        assert!(serde_json::from_str::<Millis>("-5").is_err());
        assert_eq!(Millis(2000).to_string(), "2s");
        assert_eq!(Millis(1500).to_string(), "1500ms");
    }
}
