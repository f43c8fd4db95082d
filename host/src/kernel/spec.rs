//! How a kernel is named wherever one is asked for (`--kernel`,
//! `kernel path`): the forms, in the order they are tried.
//!
//! 1. nothing: the newest cached kernel of the default variant;
//! 2. an existing path: a bzImage, a built kernel tree or a cache entry;
//! 3. `git+URL#REF[+VARIANT]`: a git ref (URL may be a path or `file://`);
//! 4. `MAJOR.MINOR[.PATCH][+VARIANT]`: a release (`6.12.117`, `6.13+debug`);
//! 5. hex digits: a cache key or a unique prefix of one.

use std::path::{Path, PathBuf};

use super::git_fetch::GitRef;
use super::release::{VersionError, VersionRequest};
use super::variant::{self, UnknownVariant, Variant};

/// A parsed kernel name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelSpec {
    Newest,
    Path(PathBuf),
    Git {
        git: GitRef,
        variant: Variant,
    },
    Version {
        version: VersionRequest,
        variant: Variant,
    },
    Key(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("kernel {0} does not exist")]
    PathMissing(PathBuf),
    #[error("{arg:?}: a git kernel is written git+URL#REF (a branch, tag or commit), e.g. git+file:///src/linux#v6.12")]
    GitWithoutRef { arg: String },
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(transparent)]
    Variant(#[from] UnknownVariant),
    #[error("{arg:?}: a cache key names one built kernel, so it takes no +{variant} (use VERSION+{variant})")]
    KeyWithVariant { arg: String, variant: Variant },
}

impl crate::exit::ExitClass for SpecError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            // A missing image was "cannot test" before names grew forms;
            // keep it so a bisect skips a commit whose image is gone.
            SpecError::PathMissing(_) => crate::exit::ExitCode::CannotTest,
            _ => crate::exit::ExitCode::Usage,
        }
    }
}

/// Parses `--kernel`'s value (see the module doc for the order).
pub fn parse(arg: Option<&str>) -> Result<KernelSpec, SpecError> {
    let Some(arg) = arg.filter(|a| !a.is_empty()) else {
        return Ok(KernelSpec::Newest);
    };
    if Path::new(arg).exists() {
        return Ok(KernelSpec::Path(PathBuf::from(arg)));
    }
    let (base, variant) = variant::split_suffix(arg);
    // `6.12+fast`: a version or key with a suffix that names no variant.
    if let (None, Some((head, name))) = (variant, arg.rsplit_once('+')) {
        let hex = !head.is_empty() && head.bytes().all(|b| b.is_ascii_hexdigit());
        if looks_like_version(head) || hex {
            return Err(UnknownVariant {
                name: name.to_string(),
            }
            .into());
        }
    }
    if let Some(rest) = base.strip_prefix("git+") {
        let git = GitRef::parse(rest).ok_or_else(|| SpecError::GitWithoutRef {
            arg: arg.to_string(),
        })?;
        return Ok(KernelSpec::Git {
            git,
            variant: variant.unwrap_or_default(),
        });
    }
    if looks_like_version(base) {
        return Ok(KernelSpec::Version {
            version: base.parse()?,
            variant: variant.unwrap_or_default(),
        });
    }
    if !base.is_empty() && base.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Some(variant) = variant {
            return Err(SpecError::KeyWithVariant {
                arg: arg.to_string(),
                variant,
            });
        }
        return Ok(KernelSpec::Key(base.to_ascii_lowercase()));
    }
    Err(SpecError::PathMissing(PathBuf::from(arg)))
}

/// Digits and dots with a dot in them: meant as a version (and a malformed
/// one is reported as such, not as a missing file).
fn looks_like_version(s: &str) -> bool {
    s.contains('.') && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::release::Release;

    #[test]
    fn spec_table() {
        let debug: Variant = "debug".parse().unwrap();
        let exact = |patch| {
            VersionRequest::Exact(Release {
                major: 6,
                minor: 12,
                patch,
            })
        };
        let git = |url: &str, r: &str| GitRef {
            url: url.into(),
            reference: r.into(),
        };
        let cases: &[(Option<&str>, Result<KernelSpec, &str>)] = &[
            (None, Ok(KernelSpec::Newest)),
            (Some(""), Ok(KernelSpec::Newest)),
            (Some("/"), Ok(KernelSpec::Path("/".into()))),
            (
                Some("6.12.117"),
                Ok(KernelSpec::Version {
                    version: exact(117),
                    variant: Variant::default(),
                }),
            ),
            (
                Some("6.12.117+debug"),
                Ok(KernelSpec::Version {
                    version: exact(117),
                    variant: debug,
                }),
            ),
            (
                Some("6.13+debug"),
                Ok(KernelSpec::Version {
                    version: VersionRequest::Series {
                        major: 6,
                        minor: 13,
                    },
                    variant: debug,
                }),
            ),
            (
                Some("git+file:///x#v6.12+debug"),
                Ok(KernelSpec::Git {
                    git: git("file:///x", "v6.12"),
                    variant: debug,
                }),
            ),
            (
                Some("git+/srv/linux#main"),
                Ok(KernelSpec::Git {
                    git: git("/srv/linux", "main"),
                    variant: Variant::default(),
                }),
            ),
            (Some("02699B"), Ok(KernelSpec::Key("02699b".into()))),
            (Some("git+file:///x"), Err("git+URL#REF")),
            (Some("6.12.1.1"), Err("not a kernel version")),
            (Some("6.12+fast"), Err("unknown kernel variant \"fast\"")),
            (Some("abc+debug"), Err("takes no +debug")),
            (Some("/no/such/bzImage"), Err("does not exist")),
        ];
        for (arg, want) in cases {
            match (parse(*arg), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{arg:?}"),
                (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{arg:?}: {e}"),
                (got, want) => panic!("{arg:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
