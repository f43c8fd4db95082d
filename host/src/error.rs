//! The one error type commands return to `main`, with its exit code.
//!
//! [`Error`] converts from any error that implements
//! [`ExitClass`](crate::exit::ExitClass), so every `?` on the way to `main`
//! carries the class its own module gave it, and a new error type that
//! nobody classified does not compile, instead of falling back to a code
//! that would abort a bisect. Errors that have no class of their own (an
//! `io::Error` writing a report) are classified where they happen with
//! [`Classify::classify`]. The chain of causes is kept (as an
//! `anyhow::Error`) for the one printer, [`Error::render`].

use std::fmt;

use crate::exit::{ExitClass, ExitCode};

/// An error on its way to `main`.
pub struct Error {
    code: ExitCode,
    inner: anyhow::Error,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl<E> From<E> for Error
where
    E: ExitClass + std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> Error {
        Error {
            code: e.exit_code(),
            inner: anyhow::Error::new(e),
        }
    }
}

impl Error {
    /// An error of class `code` with this message.
    pub fn msg(
        code: ExitCode,
        message: impl fmt::Display + fmt::Debug + Send + Sync + 'static,
    ) -> Error {
        Error {
            code,
            inner: anyhow::Error::msg(message),
        }
    }

    /// The same error, said to have happened while doing `what`.
    pub fn context(self, what: impl fmt::Display + Send + Sync + 'static) -> Error {
        Error {
            code: self.code,
            inner: self.inner.context(what),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        self.code
    }

    /// `ktstr-vm: error: MSG` and one `caused by:` line per cause that the
    /// message does not already quote, then the exit code.
    pub fn render(&self) -> String {
        let mut msg = format!("ktstr-vm: error: {}", self.inner);
        for cause in self.inner.chain().skip(1) {
            let text = cause.to_string();
            if !msg.contains(&text) {
                msg.push_str(&format!("\n  caused by: {text}"));
            }
        }
        format!("{msg}\n  (exit code {})", self.code.code())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self.inner, self.code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// Gives an unclassified error its class where it happens.
pub trait Classify<T> {
    fn classify(self, code: ExitCode, what: impl fmt::Display) -> Result<T>;
}

impl<T, E> Classify<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn classify(self, code: ExitCode, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error {
            code,
            inner: anyhow::Error::new(e).context(what.to_string()),
        })
    }
}

/// Adds context to a classified error, keeping its class.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display + Send + Sync + 'static) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display + Send + Sync + 'static) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner detail")]
    struct Inner;

    impl ExitClass for Outer {
        fn exit_code(&self) -> ExitCode {
            ExitCode::CannotTest
        }
    }

    #[test]
    fn class_travels_with_the_error() {
        let e: Error = Outer(Inner).into();
        assert_eq!(e.exit_code(), ExitCode::CannotTest);
        let e = e.context("building the image");
        assert_eq!(e.exit_code(), ExitCode::CannotTest);
        let text = e.render();
        assert!(
            text.starts_with("ktstr-vm: error: building the image"),
            "{text}"
        );
        assert!(text.contains("caused by: outer: inner detail"), "{text}");
        // The inner cause is quoted by its parent: not repeated.
        assert_eq!(text.matches("inner detail").count(), 1, "{text}");
        assert!(text.ends_with("(exit code 125)"), "{text}");
    }

    #[test]
    fn unclassified_errors_get_a_class_where_they_happen() {
        let r: std::result::Result<(), std::io::Error> =
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        let e = r
            .classify(ExitCode::Environment, "writing out.xml")
            .unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Environment);
        assert!(e.render().contains("writing out.xml"));
    }
}
