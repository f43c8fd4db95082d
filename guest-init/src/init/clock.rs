//! Guest uptime, the time base of every timestamp the guest sends.

pub use ktstr_guest::clock::uptime_ms;
