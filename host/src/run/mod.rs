//! One run: a validated [`plan::RunPlan`] in, a stream of timed
//! [`events::Event`]s out. The verdict and the report only consume events.

pub mod console;
pub mod execute;
mod guest_stream;
pub mod handshake;
pub mod interrupt;
pub mod live;
pub mod repeat;
pub mod runner;
pub mod sanitize;
pub mod start;
pub mod text_budget;
