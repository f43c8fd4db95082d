//! The Perfetto trace file (`trace.perfetto-trace`): [`proto`] is the
//! protobuf wire format, [`schema`] the field numbers, [`write`] builds a
//! trace from the run, and [`read`] reads one back.

pub mod proto;
pub mod read;
pub mod schema;
pub mod write;

#[cfg(test)]
mod tests;
