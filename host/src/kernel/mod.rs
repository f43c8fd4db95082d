//! Kernel build, cache and resolution (in progress).
