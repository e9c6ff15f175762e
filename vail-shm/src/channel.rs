//! The server's side of gfxredir as a state machine without I/O on the channel: client PDUs go
//! in ([`VailChannel::receive`]), server PDUs come out ([`VailChannel::take_output`]), and
//! what the session must act on comes out as [`VailEvent`]s ([`VailChannel::take_events`]).
//!
//! Each window has one pool with one buffer. The host reads the buffer after a PresentBuffer
//! until it acknowledges it, so a window takes no new pixels while a present is in flight:
//! [`VailChannel::pool_for_writing`] and [`VailChannel::present`] say [`VailError::Busy`]
//! then, and the caller keeps its damage for the next round, which the ack
//! ([`VailEvent::PresentDone`]) starts. One buffer and the ack as the gate cost no copy of
//! the window per frame, which two buffers alternating would (each buffer must catch up on
//! what changed in the other).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::codec::{self, CapsSet, Pdu, PixelFormat, PresentBuffer, Rect, CAPS_VERSION_2_0};
use crate::pool::{DirectWriter, Pool, PoolError};

/// The Error PDU's code when the host offers only the legacy (v1) protocol: E_NOTIMPL, the
/// HRESULT a Windows host understands as "not supported".
pub const ERROR_UNSUPPORTED_VERSION: u32 = 0x8000_4001;

/// Where caps negotiation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapsState {
    /// Nothing from the host yet.
    Waiting,
    /// The host can take pools and presents; the confirmed version.
    Ready(u32),
    /// The host cannot do gfxredir as we speak it; windows go over EGFX.
    Unusable(String),
}

/// What the session must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VailEvent {
    /// Caps confirmed: windows may use VAIL from now on.
    Ready { version: u32 },
    /// The host cannot use VAIL (legacy caps only, or no v2): use EGFX.
    Unusable { reason: String },
    /// A present is over: the window takes new pixels, and the frame callbacks of what it
    /// showed are due. `acked` is false when it ended without an ack (the window was resized
    /// or closed, or the channel closed).
    PresentDone { window_id: u64, present_id: u64, acked: bool },
}

#[derive(Debug, Error)]
pub enum VailError {
    #[error("gfxredir is not ready (caps not confirmed)")]
    NotReady,
    #[error("gfxredir is unusable with this host: {0}")]
    Unusable(String),
    #[error("window {0} has a present in flight")]
    Busy(u64),
    #[error("window {0} has no pool")]
    UnknownWindow(u64),
    #[error("window {0} has a pool already")]
    WindowExists(u64),
    #[error("window {0} has another pool than the one written to")]
    OtherPool(u64),
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// Counters for debug output and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    pub presents: u64,
    pub acks: u64,
    /// Acks naming a window or present that is not in flight; ignored.
    pub stray_acks: u64,
    /// Client PDUs that did not decode, or that only a server sends.
    pub malformed: u64,
    /// Bytes copied into pools by [`VailChannel::copy_and_present`].
    pub bytes_copied: u64,
    /// Presents of pixels a [`DirectWriter`] wrote ([`VailChannel::present_written`]).
    pub direct_presents: u64,
}

/// Presents and bytes copied into pools by every channel of this process since it started:
/// what `wayrail msg version` reports, to check that only damage is copied.
static TOTAL_PRESENTS: AtomicU64 = AtomicU64::new(0);
static TOTAL_BYTES_COPIED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count_bytes_copied(bytes: usize) {
    TOTAL_BYTES_COPIED.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// The pools of one server's windows, by window id, for the compositor to write into
/// directly ([`DirectWriter`]): channels register a window's pool when it is made and remove
/// it when it goes. Cheap to clone; all clones are the same registry.
#[derive(Debug, Clone, Default)]
pub struct DirectPools(Arc<Mutex<HashMap<u64, DirectWriter>>>);

impl DirectPools {
    /// The window's pool, if a channel made one.
    pub fn get(&self, window_id: u64) -> Option<DirectWriter> {
        self.lock().get(&window_id).cloned()
    }

    fn insert(&self, window_id: u64, writer: DirectWriter) {
        self.lock().insert(window_id, writer);
    }

    /// Removes the window's entry if it is still the pool `serial` (another session may have
    /// given the window a pool of its own since).
    fn remove(&self, window_id: u64, serial: u64) {
        let mut pools = self.lock();
        if pools.get(&window_id).is_some_and(|w| w.serial() == serial) {
            pools.remove(&window_id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, DirectWriter>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `(presents, bytes copied into pools)` of every channel of this process so far.
pub fn process_totals() -> (u64, u64) {
    (TOTAL_PRESENTS.load(Ordering::Relaxed), TOTAL_BYTES_COPIED.load(Ordering::Relaxed))
}

/// A present that went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented {
    pub present_id: u64,
    /// The dirty rectangle sent (the union of the damage, clipped to the buffer).
    pub dirty: Rect,
    pub bytes_copied: usize,
}

#[derive(Debug)]
struct Window {
    pool: Pool,
    pool_id: u64,
    buffer_id: u64,
    in_flight: Option<u64>,
}

/// The server's gfxredir state for one connection.
#[derive(Debug)]
pub struct VailChannel {
    dir: PathBuf,
    caps: CapsState,
    windows: HashMap<u64, Window>,
    next_pool_id: u64,
    next_buffer_id: u64,
    /// Per connection, as the host expects; the first present is 1.
    next_present_id: u64,
    output: Vec<Pdu>,
    events: Vec<VailEvent>,
    stats: ChannelStats,
    /// Where the windows' pools are registered for direct writes, if anywhere.
    direct: Option<DirectPools>,
}

impl VailChannel {
    /// A channel whose pools go to `dir` (see [`crate::pool::pool_dir`]).
    pub fn new(dir: PathBuf) -> VailChannel {
        VailChannel {
            dir,
            caps: CapsState::Waiting,
            windows: HashMap::new(),
            next_pool_id: 1,
            next_buffer_id: 1,
            next_present_id: 1,
            output: Vec::new(),
            events: Vec::new(),
            stats: ChannelStats::default(),
            direct: None,
        }
    }

    /// Registers every window's pool in `pools` for direct writes, from the next pool on.
    pub fn set_direct_pools(&mut self, pools: DirectPools) {
        self.direct = Some(pools);
    }

    pub fn caps(&self) -> &CapsState {
        &self.caps
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.caps, CapsState::Ready(_))
    }

    pub fn stats(&self) -> ChannelStats {
        self.stats
    }

    /// PDUs to send, in order.
    pub fn take_output(&mut self) -> Vec<Pdu> {
        std::mem::take(&mut self.output)
    }

    pub fn take_events(&mut self) -> Vec<VailEvent> {
        std::mem::take(&mut self.events)
    }

    /// The pool of a window, to read (tests, screenshots).
    pub fn pool(&self, window_id: u64) -> Option<&Pool> {
        self.windows.get(&window_id).map(|w| &w.pool)
    }

    /// Whether the window waits for the host's ack.
    pub fn in_flight(&self, window_id: u64) -> Option<u64> {
        self.windows.get(&window_id).and_then(|w| w.in_flight)
    }

    pub fn windows(&self) -> impl Iterator<Item = u64> + '_ {
        self.windows.keys().copied()
    }

    /// One DVC message from the host: every PDU in it, each refused alone when malformed.
    pub fn receive(&mut self, payload: &[u8]) {
        for bytes in codec::split(payload) {
            match codec::decode(bytes) {
                Ok(pdu) => self.handle(pdu),
                Err(e) => {
                    self.stats.malformed += 1;
                    tracing::debug!("gfxredir PDU from the host refused: {e}");
                }
            }
        }
    }

    fn handle(&mut self, pdu: Pdu) {
        match pdu {
            Pdu::LegacyCaps { .. } => {
                if self.is_ready() {
                    return; // v2 is agreed already; an old-style hello changes nothing
                }
                self.output.push(Pdu::Error { code: ERROR_UNSUPPORTED_VERSION });
                self.set_unusable("the host speaks only gfxredir v1 (LegacyCaps)".into());
            }
            Pdu::CapsAdvertise(sets) => self.on_caps(sets),
            Pdu::PresentBufferAck { window_id, present_id } => self.on_ack(window_id, present_id),
            other => {
                self.stats.malformed += 1;
                tracing::debug!("gfxredir {} from the host ignored: only a server sends it", other.name());
            }
        }
    }

    /// Confirms the highest version the host advertised, echoing its data as FreeRDP's
    /// server does; usable when that is 2.0 or later (the PDUs we send are 2.0's).
    fn on_caps(&mut self, sets: Vec<CapsSet>) {
        let Some(best) = sets.into_iter().max_by_key(|s| s.version) else { return };
        let version = best.version;
        self.output.push(Pdu::CapsConfirm(best));
        if version < CAPS_VERSION_2_0 {
            self.set_unusable(format!("the host's best gfxredir version is {version:#x}, 2.0 is needed"));
            return;
        }
        if self.caps == CapsState::Ready(version) {
            return;
        }
        tracing::info!(version = format!("{version:#x}"), "gfxredir ready");
        self.caps = CapsState::Ready(version);
        self.events.push(VailEvent::Ready { version });
    }

    fn set_unusable(&mut self, reason: String) {
        if matches!(&self.caps, CapsState::Unusable(r) if *r == reason) {
            return;
        }
        tracing::info!("gfxredir unusable: {reason}");
        self.drop_windows();
        self.caps = CapsState::Unusable(reason.clone());
        self.events.push(VailEvent::Unusable { reason });
    }

    fn on_ack(&mut self, window_id: u64, present_id: u64) {
        match self.windows.get_mut(&window_id) {
            Some(w) if w.in_flight == Some(present_id) => {
                w.in_flight = None;
                w.pool.set_busy(false);
                self.stats.acks += 1;
                self.events.push(VailEvent::PresentDone { window_id, present_id, acked: true });
            }
            _ => {
                self.stats.stray_acks += 1;
                tracing::debug!(window_id, present_id, "gfxredir ack for nothing in flight ignored");
            }
        }
    }

    fn check_ready(&self) -> Result<(), VailError> {
        match &self.caps {
            CapsState::Ready(_) => Ok(()),
            CapsState::Waiting => Err(VailError::NotReady),
            CapsState::Unusable(why) => Err(VailError::Unusable(why.clone())),
        }
    }

    /// A pool and buffer for a new window of `width` x `height` pixels (its content size);
    /// OpenPool and CreateBuffer go out.
    pub fn open_window(&mut self, window_id: u64, width: u32, height: u32) -> Result<(), VailError> {
        self.check_ready()?;
        if self.windows.contains_key(&window_id) {
            return Err(VailError::WindowExists(window_id));
        }
        let pool = Pool::create(&self.dir, width, height)?;
        self.install(window_id, pool);
        Ok(())
    }

    /// A new size: the old buffer and pool go (the host may still hold the old name, so the
    /// new pool has a new one) and a present in flight ends unacked. The new pool is zeroed:
    /// the caller sends the whole window next.
    pub fn resize(&mut self, window_id: u64, width: u32, height: u32) -> Result<(), VailError> {
        self.check_ready()?;
        if !self.windows.contains_key(&window_id) {
            return Err(VailError::UnknownWindow(window_id));
        }
        // Made before the old one goes, so a failure leaves the window as it was.
        let pool = Pool::create(&self.dir, width, height)?;
        self.close_window(window_id);
        self.install(window_id, pool);
        Ok(())
    }

    /// Gives `pool` to the window; OpenPool and CreateBuffer (one buffer at offset 0) go out.
    fn install(&mut self, window_id: u64, pool: Pool) {
        let (pool_id, buffer_id) = (self.next_pool_id, self.next_buffer_id);
        self.next_pool_id += 1;
        self.next_buffer_id += 1;
        self.output.push(Pdu::OpenPool { pool_id, pool_size: pool.size(), section_name: pool.name().to_owned() });
        self.output.push(Pdu::CreateBuffer {
            pool_id,
            buffer_id,
            offset: 0,
            stride: pool.stride(),
            width: pool.width(),
            height: pool.height(),
            format: PixelFormat::Argb8888,
        });
        if let Some(direct) = &self.direct {
            direct.insert(window_id, pool.direct_writer());
        }
        self.windows.insert(window_id, Window { pool, pool_id, buffer_id, in_flight: None });
    }

    /// DestroyBuffer and ClosePool go out, the pool's file goes; false for an unknown window.
    pub fn close_window(&mut self, window_id: u64) -> bool {
        let Some(w) = self.windows.remove(&window_id) else { return false };
        if let Some(direct) = &self.direct {
            direct.remove(window_id, w.pool.serial());
        }
        if self.is_ready() {
            self.output.push(Pdu::DestroyBuffer { buffer_id: w.buffer_id });
            self.output.push(Pdu::ClosePool { pool_id: w.pool_id });
        }
        if let Some(present_id) = w.in_flight {
            self.events.push(VailEvent::PresentDone { window_id, present_id, acked: false });
        }
        true
    }

    /// Every window's pool goes without a word to the host (the channel is gone or unusable);
    /// presents in flight end unacked.
    fn drop_windows(&mut self) {
        let mut ids: Vec<u64> = self.windows.keys().copied().collect();
        ids.sort_unstable();
        for window_id in ids {
            let Some(w) = self.windows.remove(&window_id) else { continue };
            if let Some(direct) = &self.direct {
                direct.remove(window_id, w.pool.serial());
            }
            if let Some(present_id) = w.in_flight {
                self.events.push(VailEvent::PresentDone { window_id, present_id, acked: false });
            }
        }
    }

    /// The channel closed (or the session ended): every pool file goes.
    pub fn closed(&mut self) {
        self.output.clear();
        self.drop_windows();
        self.caps = CapsState::Waiting;
    }

    /// The window's pool to write pixels into; Busy while the host may be reading it.
    pub fn pool_for_writing(&mut self, window_id: u64) -> Result<&mut Pool, VailError> {
        self.check_ready()?;
        let w = self.windows.get_mut(&window_id).ok_or(VailError::UnknownWindow(window_id))?;
        if w.in_flight.is_some() {
            return Err(VailError::Busy(window_id));
        }
        Ok(&mut w.pool)
    }

    /// Shows the pool's buffer in the host window `window_id` at `target` (the window's size
    /// on the host), `dirty` being what changed since the last present; `opaque` when the
    /// window has no alpha (the dirty rectangle is then its opaque rectangle).
    pub fn present(&mut self, window_id: u64, dirty: Rect, target: (u32, u32), opaque: bool) -> Result<u64, VailError> {
        self.check_ready()?;
        let w = self.windows.get_mut(&window_id).ok_or(VailError::UnknownWindow(window_id))?;
        if w.in_flight.is_some() {
            return Err(VailError::Busy(window_id));
        }
        let dirty = dirty.clip(w.pool.width(), w.pool.height());
        let present_id = self.next_present_id;
        self.next_present_id += 1;
        w.in_flight = Some(present_id);
        w.pool.set_busy(true);
        self.stats.presents += 1;
        TOTAL_PRESENTS.fetch_add(1, Ordering::Relaxed);
        self.output.push(Pdu::PresentBuffer(PresentBuffer {
            timestamp: 0,
            present_id,
            window_id,
            buffer_id: w.buffer_id,
            orientation: 0,
            target_width: target.0,
            target_height: target.1,
            dirty,
            opaque: if opaque && !dirty.is_empty() { vec![dirty] } else { Vec::new() },
        }));
        Ok(present_id)
    }

    /// Copies the damaged rectangles of `src` (BGRA, `src_stride` bytes a row, the window's
    /// content at the pool's size) into the pool and presents their union.
    pub fn copy_and_present(
        &mut self,
        window_id: u64,
        src: &[u8],
        src_stride: usize,
        damage: &[Rect],
        target: (u32, u32),
        opaque: bool,
    ) -> Result<Presented, VailError> {
        let pool = self.pool_for_writing(window_id)?;
        let bytes_copied = pool.copy_rects(src, src_stride, damage);
        let (w, h) = (pool.width(), pool.height());
        let dirty = damage.iter().map(|r| r.clip(w, h)).fold(Rect::default(), |a, r| a.union(&r));
        self.stats.bytes_copied += bytes_copied as u64;
        TOTAL_BYTES_COPIED.fetch_add(bytes_copied as u64, Ordering::Relaxed);
        let present_id = self.present(window_id, dirty, target, opaque)?;
        Ok(Presented { present_id, dirty, bytes_copied })
    }
}

impl Drop for VailChannel {
    /// A channel dropped without `closed` (its session ended abruptly) takes its pools out of
    /// the registry, so no writer keeps a removed pool's memory alive.
    fn drop(&mut self) {
        if let Some(direct) = &self.direct {
            for (window_id, w) in &self.windows {
                direct.remove(*window_id, w.pool.serial());
            }
        }
    }
}

impl VailChannel {
    /// Presents the union of `damage`, which a [`DirectWriter`] of the pool `serial` wrote
    /// into the window's pool; [`VailError::OtherPool`] when the window has another pool by
    /// now (a resize: what was written is not in it, the window must be sent whole).
    pub fn present_written(
        &mut self,
        window_id: u64,
        damage: &[Rect],
        target: (u32, u32),
        opaque: bool,
        serial: u64,
    ) -> Result<Presented, VailError> {
        let pool = self.pool_for_writing(window_id)?;
        if pool.serial() != serial {
            return Err(VailError::OtherPool(window_id));
        }
        let (w, h) = (pool.width(), pool.height());
        let dirty = damage.iter().map(|r| r.clip(w, h)).fold(Rect::default(), |a, r| a.union(&r));
        let present_id = self.present(window_id, dirty, target, opaque)?;
        self.stats.direct_presents += 1;
        Ok(Presented { present_id, dirty, bytes_copied: 0 })
    }

    /// Copies tiles (each a rectangle of the window's content with its BGRA pixels, `width * 4`
    /// bytes a row) into the window's pool and presents their union.
    pub fn write_tiles_and_present<'a>(
        &mut self,
        window_id: u64,
        tiles: impl IntoIterator<Item = (Rect, &'a [u8])>,
        target: (u32, u32),
        opaque: bool,
    ) -> Result<Presented, VailError> {
        let pool = self.pool_for_writing(window_id)?;
        let (w, h) = (pool.width(), pool.height());
        let (mut bytes_copied, mut dirty) = (0, Rect::default());
        for (at, pixels) in tiles {
            bytes_copied += pool.write_rect(at, pixels, at.width as usize * crate::pool::BYTES_PER_PIXEL);
            dirty = dirty.union(&at.clip(w, h));
        }
        self.stats.bytes_copied += bytes_copied as u64;
        TOTAL_BYTES_COPIED.fetch_add(bytes_copied as u64, Ordering::Relaxed);
        let present_id = self.present(window_id, dirty, target, opaque)?;
        Ok(Presented { present_id, dirty, bytes_copied })
    }
}

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
