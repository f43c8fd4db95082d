//! Kernel build, cache and resolution.
//!
//! [`build`] configures a kernel tree from the fragments in `kernels/`
//! ([`fragment`]), builds `bzImage` plus the tree's example sched_ext
//! schedulers, and stores them in a content-addressed cache ([`store`])
//! under a key from the source identity and fragments ([`key`], [`source`]).
//! [`resolve`] turns a `--kernel` argument into an image for a run;
//! [`cli`] is `ktstr-vm kernel ...`.

pub mod build;
pub mod ccache;
pub mod clean;
pub mod cli;
pub mod download;
mod exit_class;
pub mod fragment;
pub mod git_fetch;
pub mod http;
pub mod key;
pub mod listing;
pub mod lock;
pub mod make;
pub mod origin;
pub mod release;
pub mod resolve;
pub mod source;
pub mod spec;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod variant;

pub use build::{build, BuildError, BuildOutcome, BuildRequest, SCHEDULERS};
pub use resolve::{find_scheduler, has_sched_ext, resolve_kernel, ResolveError, ResolvedKernel};
