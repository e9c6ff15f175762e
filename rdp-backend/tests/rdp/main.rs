//! wayrail-rdp end to end: the real server on its own thread, the IronRDP test client
//! (`wayrail-rdp-testclient`) on the test's, the host events read from a calloop loop as the
//! compositor reads them. Every test binds its own port, socket path and state directory.

mod auth;
mod common;
mod limits;
mod rail;
mod robustness;
mod session;
mod transports;
