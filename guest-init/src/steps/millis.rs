//! A duration in milliseconds that scenario files may write as `"500ms"`,
//! `"2s"`, `"1.5s"`, `"1m"` or a plain integer of milliseconds. On the wire
//! it is always the integer, so the guest never parses units.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds, written with or without a unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// Parses `500ms`, `2s`, `1.5s`, `1m` or `750` (milliseconds).
    pub fn parse(text: &str) -> Result<Millis, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("{text:?} is not a duration; write e.g. 500ms, 2s, 1.5s or 1m"))?;
        let scale = match unit.trim() {
            "" | "ms" => 1.0,
            "s" => 1_000.0,
            "m" | "min" => 60_000.0,
            other => return Err(format!("{text:?}: unknown unit {other:?}; use ms, s or m")),
        };
        Ok(Millis((value * scale).round() as u64))
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
