//! VAIL: Linux windows' pixels reach the host through shared memory instead of an encoder.
//! The compositor copies what changed into a file per window that the host maps (`pool`),
//! and only small PDUs travel on the `Microsoft::Windows::RDS::RemoteAppGraphicsRedirection`
//! dynamic channel ("gfxredir", `codec`). `channel` is the server's side of that channel as
//! a state machine; `dvc` plugs it into IronRDP's dynamic channel server.

pub mod channel;
pub mod codec;
pub mod dvc;
pub mod pool;

pub use channel::{process_totals, CapsState, ChannelStats, DirectPools, Presented, VailChannel, VailError, VailEvent};
pub use codec::{CodecError, Pdu, Rect, CHANNEL_NAME};
pub use dvc::GfxRedirServer;
pub use pool::{direct_writes_total, pool_dir, sweep_stale, DirectWriter, Pool, PoolError};
