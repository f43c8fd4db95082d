//! GitHub Actions expressions (`${{ ... }}` and `if:`), the part the
//! workflow and action use: contexts with `.name` and `[expr]` access,
//! string/number/boolean/null literals, `! == != < <= > >= && ||`,
//! parentheses, and the functions below. Anything else is an error, so
//! an expression this evaluator does not know fails the test instead of
//! being read wrongly. Values are JSON, as on GitHub.

use serde_json::Value;

/// The job's state, for `success()`, `failure()`, `always()`, `cancelled()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status {
    pub failed: bool,
}

/// Evaluates one expression (without `${{ }}`) against `contexts`, an
/// object of contexts (`inputs`, `steps`, `github`, ...).
pub fn eval(expr: &str, contexts: &Value, status: Status) -> Result<Value, String> {
    let tokens = tokenize(expr)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        contexts,
        status,
    };
    let v = p.or()?;
    match p.tokens.get(p.pos) {
        None => Ok(v),
        Some(t) => Err(format!("{expr:?}: unexpected {t:?}")),
    }
}

/// `text` with every `${{ expr }}` replaced by its value as a string.
pub fn interpolate(text: &str, contexts: &Value, status: Status) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed ${{{{ in {text:?}"))?;
        out.push_str(&to_string(&eval(&after[..end], contexts, status)?));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An `if:` condition: with or without `${{ }}`, and `success() && ...`
/// implied unless it calls a status function itself.
pub fn condition(text: &str, contexts: &Value, status: Status) -> Result<bool, String> {
    let t = text.trim();
    let inner = t
        .strip_prefix("${{")
        .and_then(|s| s.strip_suffix("}}"))
        .unwrap_or(t);
    let has_status = ["always(", "success(", "failure(", "cancelled("]
        .iter()
        .any(|f| inner.contains(f));
    let v = truthy(&eval(inner, contexts, status)?);
    Ok(if has_status { v } else { v && !status.failed })
}

/// How GitHub prints a value into a string.
pub fn to_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "!", "<", ">", "(", ")", "[", "]", ".", ",",
];

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(format!("{s:?}: unterminated string")),
                    Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some(b'\'') => break,
                    Some(_) => {
                        let ch = s[i..].chars().next().expect("in bounds");
                        text.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            i += 1;
            out.push(Tok::Str(text));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let n = s[start..i]
                .parse()
                .map_err(|_| format!("{s:?}: bad number"))?;
            out.push(Tok::Num(n));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(format!("{s:?}: unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    contexts: &'a Value,
    status: Status,
}

impl Parser<'_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Tok::Op(o)) if *o == op)
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.peek_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {op:?} at token {}", self.pos))
        }
    }

    fn or(&mut self) -> Result<Value, String> {
        let mut v = self.and()?;
        while self.peek_op("||") {
            self.pos += 1;
            let r = self.and()?;
            v = if truthy(&v) { v } else { r };
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<Value, String> {
        let mut v = self.cmp()?;
        while self.peek_op("&&") {
            self.pos += 1;
            let r = self.cmp()?;
            v = if truthy(&v) { r } else { v };
        }
        Ok(v)
    }

    fn cmp(&mut self) -> Result<Value, String> {
        let l = self.unary()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.peek_op(op) {
                self.pos += 1;
                let r = self.unary()?;
                let b = match op {
                    "==" => loose_eq(&l, &r),
                    "!=" => !loose_eq(&l, &r),
                    _ => {
                        let (a, b) = (number(&l), number(&r));
                        match op {
                            "<" => a < b,
                            "<=" => a <= b,
                            ">" => a > b,
                            _ => a >= b,
                        }
                    }
                };
                return Ok(Value::Bool(b));
            }
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Value, String> {
        if self.peek_op("!") {
            self.pos += 1;
            return Ok(Value::Bool(!truthy(&self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Value, String> {
        let tok = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of expression")?;
        self.pos += 1;
        let mut v = match tok {
            Tok::Str(s) => Value::String(s),
            Tok::Num(n) => serde_json::json!(n),
            Tok::Op("(") => {
                let v = self.or()?;
                self.expect(")")?;
                v
            }
            Tok::Ident(name) if self.peek_op("(") => {
                self.pos += 1;
                let mut args = Vec::new();
                while !self.peek_op(")") {
                    args.push(self.or()?);
                    if !self.peek_op(")") {
                        self.expect(",")?;
                    }
                }
                self.pos += 1;
                self.call(&name, &args)?
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => self
                    .contexts
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| format!("unknown context {name:?}"))?,
            },
            Tok::Op(o) => return Err(format!("unexpected {o:?}")),
        };
        loop {
            let key = if self.peek_op(".") {
                self.pos += 1;
                match self.tokens.get(self.pos).cloned() {
                    Some(Tok::Ident(k)) => {
                        self.pos += 1;
                        k
                    }
                    other => return Err(format!("expected a property name, got {other:?}")),
                }
            } else if self.peek_op("[") {
                self.pos += 1;
                let k = to_string(&self.or()?);
                self.expect("]")?;
                k
            } else {
                return Ok(v);
            };
            v = property(&v, &key);
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let s = |i: usize| args.get(i).map(to_string).unwrap_or_default();
        Ok(match name.to_ascii_lowercase().as_str() {
            "always" => Value::Bool(true),
            "success" => Value::Bool(!self.status.failed),
            "failure" => Value::Bool(self.status.failed),
            "cancelled" => Value::Bool(false),
            "contains" => Value::Bool(match args.first() {
                Some(Value::Array(a)) => a.iter().any(|x| loose_eq(x, &args[1])),
                _ => s(0).to_lowercase().contains(&s(1).to_lowercase()),
            }),
            "startswith" => Value::Bool(s(0).to_lowercase().starts_with(&s(1).to_lowercase())),
            "endswith" => Value::Bool(s(0).to_lowercase().ends_with(&s(1).to_lowercase())),
            "format" => {
                let mut out = s(0);
                for (i, a) in args.iter().enumerate().skip(1) {
                    out = out.replace(&format!("{{{}}}", i - 1), &to_string(a));
                }
                Value::String(out)
            }
            "fromjson" => serde_json::from_str(&s(0)).map_err(|e| format!("fromJSON: {e}"))?,
            "tojson" => Value::String(args.first().map(|v| v.to_string()).unwrap_or_default()),
            other => return Err(format!("function {other}() is not supported here")),
        })
    }
}

/// `v.key`: case-insensitive, as on GitHub; missing is null.
fn property(v: &Value, key: &str) -> Value {
    match v {
        Value::Object(m) => m
            .get(key)
            .or_else(|| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .cloned()
            .unwrap_or(Value::Null),
        // An index is a number: `[1]` arrives here as "1.0".
        Value::Array(a) => key
            .parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .and_then(|f| a.get(f as usize).cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) if s.trim().is_empty() => 0.0,
        Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// `==`: strings ignore case; different types compare as numbers.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => a == b,
        _ => number(a) == number(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expressions_table() {
        let ctx = json!({
            "inputs": {"kernel": "6.12.117", "jobs": ""},
            "steps": {"kernel": {"outputs": {"cache": "true", "slug": "a+b"}}, "restore": {"outputs": {}}},
            "matrix": {"kernel": "6.13"},
            "needs": {"kernels": {"outputs": {"kernels": "[\"6.12\",\"6.13\"]"}}},
        });
        let ok = Status::default();
        let cases: &[(&str, Value)] = &[
            ("inputs.kernel", json!("6.12.117")),
            ("inputs['kernel']", json!("6.12.117")),
            ("steps.kernel.outputs.cache == 'TRUE'", json!(true)),
            ("steps.restore.outputs.cache-hit != 'true'", json!(true)),
            (
                "steps.kernel.outputs.cache == 'true' && steps.restore.outputs.cache-hit != 'true'",
                json!(true),
            ),
            (
                "!cancelled() && steps.kernel.outputs.slug != ''",
                json!(true),
            ),
            ("inputs.jobs || 'default'", json!("default")),
            ("format('{0}/kernels', 'x')", json!("x/kernels")),
            ("fromJSON(needs.kernels.outputs.kernels)[1]", json!("6.13")),
            ("contains(fromJSON('[\"a\"]'), 'A')", json!(true)),
            ("1 < 2 && !(2 <= 1)", json!(true)),
            ("null == ''", json!(true)),
        ];
        for (e, want) in cases {
            assert_eq!(&eval(e, &ctx, ok).unwrap(), want, "{e}");
        }
        for bad in ["nope.x", "inputs.kernel ==", "hashFiles('x')", "'open"] {
            assert!(eval(bad, &ctx, ok).is_err(), "{bad}");
        }
        assert_eq!(
            interpolate("k=${{ matrix.kernel }}, j=${{inputs.jobs}}.", &ctx, ok).unwrap(),
            "k=6.13, j=."
        );
        let failed = Status { failed: true };
        assert!(!condition("inputs.kernel != ''", &ctx, failed).unwrap());
        assert!(condition("${{ always() }}", &ctx, failed).unwrap());
        assert!(condition("inputs.kernel != ''", &ctx, ok).unwrap());
    }
}
