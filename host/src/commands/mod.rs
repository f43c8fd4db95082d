//! The commands, each from its parsed flags to an exit code: `run` (the
//! default), `exec` and `shell` (the test VM used by hand, with no
//! workers), and `bisect` (`git bisect run` with a run at every step).
//! `main` dispatches to them; they share options through [`crate::args`].

pub mod bisect;
pub mod exec;
pub mod run;
pub mod shell;

#[cfg(test)]
mod tests;
