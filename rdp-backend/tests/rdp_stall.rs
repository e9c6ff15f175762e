//! The stalled-reader test in a test binary of its own: it measures the memory of the whole
//! process, which the other RDP tests running beside it would blur.

#[path = "rdp/backpressure.rs"]
mod backpressure;
#[allow(dead_code)]
#[path = "rdp/common.rs"]
mod common;
