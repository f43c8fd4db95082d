//! Synthetic topology (in progress).
