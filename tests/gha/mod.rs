//! Enough of GitHub Actions to test ci/github/ on this machine: its
//! expressions, its YAML, and a runner for a job's or a composite
//! action's steps.

#![allow(dead_code)]

pub mod expr;
pub mod runner;
pub mod yaml;
