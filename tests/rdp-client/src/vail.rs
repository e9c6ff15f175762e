//! The host's end of gfxredir (VAIL), as WSL's host plays it: it advertises its caps, maps
//! each pool file by its section name from the shared folder (read-only, MAP_SHARED, so it
//! sees what the server writes), and on every PresentBuffer copies the dirty rectangle out
//! of the mapping into that window's picture and acknowledges it. No open-source client
//! speaks gfxredir; this one lets tests assert the pixels a host would show and count what
//! crossed. It can also misbehave on purpose ([`Misbehave`]) for robustness tests, and
//! records whatever the server got wrong in [`VailHostState::problems`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use wayrail_dvc::EncodedPdu;

const PDU: &str = wayrail_vail::dvc::PDU_NAME;

use ironrdp_core::impl_as_any;
use ironrdp_dvc::{DvcClientProcessor, DvcMessage, DvcProcessor};
use ironrdp_pdu::PduResult;
use wayrail_vail::codec::{self, CapsSet, Pdu, PresentBuffer, Rect};

/// Ways the host breaks the protocol, each applied to every PresentBufferAck it owes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Misbehave {
    /// Sends a copy of the ack whose length field is 4 too large, then the honest ack.
    pub lying_lengths: bool,
    /// Acks a window and a present that do not exist instead of the real ones (the window
    /// never gets its ack).
    pub unknown_ids: bool,
    /// Sends acks for nothing (an unknown window; the right window with a wrong id) before
    /// the real ack.
    pub acks_for_nothing: bool,
    /// Never acks.
    pub withhold_acks: bool,
}

/// One window's picture as the host shows it: the buffer's pixels (BGRA in memory, as the
/// pool holds them), rebuilt from the dirty rectangles presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostImage {
    pub width: u32,
    pub height: u32,
    pub bgra: Vec<u8>,
    /// The host window's size the last present asked for.
    pub target: (u32, u32),
    pub presents: u64,
    pub last_dirty: Rect,
    pub last_present_id: u64,
}

impl HostImage {
    fn new(width: u32, height: u32) -> HostImage {
        HostImage {
            width,
            height,
            bgra: vec![0; width as usize * height as usize * 4],
            target: (0, 0),
            presents: 0,
            last_dirty: Rect::default(),
            last_present_id: 0,
        }
    }

    /// The pixel at (x, y) as the bytes in memory, [b, g, r, a].
    ///
    /// # Panics
    ///
    /// When (x, y) is outside the picture.
    pub fn bgra_at(&self, x: u32, y: u32) -> [u8; 4] {
        assert!(x < self.width && y < self.height, "({x}, {y}) is outside the {}x{} picture", self.width, self.height);
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.bgra[i], self.bgra[i + 1], self.bgra[i + 2], self.bgra[i + 3]]
    }

    /// The pixel at (x, y) as [r, g, b, a], for comparing with screenshots.
    pub fn rgba_at(&self, x: u32, y: u32) -> [u8; 4] {
        let [b, g, r, a] = self.bgra_at(x, y);
        [r, g, b, a]
    }

    /// The rows of `rect` (clipped to the picture), BGRA, `rect.width * 4` bytes a row.
    pub fn region(&self, rect: Rect) -> Vec<u8> {
        let r = rect.clip(self.width, self.height);
        let mut out = Vec::with_capacity(r.width as usize * r.height as usize * 4);
        for y in r.y..r.y + r.height {
            let start = (y as usize * self.width as usize + r.x as usize) * 4;
            out.extend_from_slice(&self.bgra[start..start + r.width as usize * 4]);
        }
        out
    }
}

#[derive(Debug)]
struct HostPool {
    name: String,
    map: memmap2::Mmap,
}

#[derive(Debug, Clone, Copy)]
struct HostBuffer {
    pool_id: u64,
    offset: u64,
    stride: u32,
    width: u32,
    height: u32,
}

/// What the host saw and did; shared between the channel and the test.
#[derive(Debug, Default)]
pub struct VailHostState {
    pub misbehave: Misbehave,
    /// The caps set the server confirmed.
    pub confirmed: Option<CapsSet>,
    /// Error PDUs' codes.
    pub errors: Vec<u32>,
    /// Section names of every OpenPool, in order.
    pub opened: Vec<String>,
    pub closed_pools: Vec<u64>,
    pub destroyed_buffers: Vec<u64>,
    /// Every PresentBuffer, in order.
    pub presents: Vec<PresentBuffer>,
    /// When each of `presents` was taken in (the benchmark's latency).
    pub present_arrivals: Vec<std::time::Instant>,
    /// Bytes copied out of the pools into the pictures.
    pub bytes_copied: u64,
    pub acks_sent: u64,
    /// A host slow to show one window: the acks of this window's presents wait (in
    /// `held_acks`) until the test sends them ([`VailHostState::take_held_acks`]).
    pub hold_acks_of: Option<u64>,
    /// (window, present) of each ack held back, in order.
    pub held_acks: Vec<(u64, u64)>,
    /// What the server got wrong: PDUs that did not decode, unknown ids, buffers outside
    /// their pool, files that would not map.
    pub problems: Vec<String>,
    /// Each window's picture, by window id.
    pub images: BTreeMap<u64, HostImage>,
    pools: HashMap<u64, HostPool>,
    buffers: HashMap<u64, HostBuffer>,
}

impl VailHostState {
    /// The acks held back ([`VailHostState::hold_acks_of`]), encoded, for
    /// [`crate::TestClient::send_gfxredir`]; they count as sent from now on.
    pub fn take_held_acks(&mut self) -> Vec<Vec<u8>> {
        let held = std::mem::take(&mut self.held_acks);
        self.acks_sent += held.len() as u64;
        held.into_iter()
            .map(|(window_id, present_id)| {
                Pdu::PresentBufferAck { window_id, present_id }.encode().expect("an ack encodes")
            })
            .collect()
    }

    /// The section names of the pools mapped now.
    pub fn mapped(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pools.values().map(|p| p.name.clone()).collect();
        names.sort();
        names
    }

    /// Handles one server PDU; returns the PDUs to answer with (encoded).
    fn handle(&mut self, dir: &std::path::Path, pdu: Pdu) -> Vec<Vec<u8>> {
        match pdu {
            Pdu::CapsConfirm(set) => self.confirmed = Some(set),
            Pdu::Error { code } => self.errors.push(code),
            Pdu::OpenPool { pool_id, pool_size, section_name } => self.open_pool(dir, pool_id, pool_size, section_name),
            Pdu::ClosePool { pool_id } => {
                self.closed_pools.push(pool_id);
                if self.pools.remove(&pool_id).is_none() {
                    self.problems.push(format!("ClosePool for unknown pool {pool_id}"));
                }
            }
            Pdu::CreateBuffer { pool_id, buffer_id, offset, stride, width, height, .. } => {
                let buffer = HostBuffer { pool_id, offset, stride, width, height };
                match self.check_buffer(&buffer) {
                    Ok(()) => {
                        self.buffers.insert(buffer_id, buffer);
                    }
                    Err(why) => self.problems.push(format!("CreateBuffer {buffer_id}: {why}")),
                }
            }
            Pdu::DestroyBuffer { buffer_id } => {
                self.destroyed_buffers.push(buffer_id);
                if self.buffers.remove(&buffer_id).is_none() {
                    self.problems.push(format!("DestroyBuffer for unknown buffer {buffer_id}"));
                }
            }
            Pdu::PresentBuffer(present) => return self.present(present),
            other => self.problems.push(format!("{} from the server, which only a host sends", other.name())),
        }
        Vec::new()
    }

    fn open_pool(&mut self, dir: &std::path::Path, pool_id: u64, pool_size: u64, name: String) {
        self.opened.push(name.clone());
        if name.contains('/') || name == ".." || name == "." {
            self.problems.push(format!("OpenPool {pool_id}: section name {name:?} is not a file name"));
            return;
        }
        let path = dir.join(&name);
        let map = std::fs::File::open(&path).and_then(|file| {
            // SAFETY: a read-only shared mapping of the server's pool; the server only writes
            // pixels into it and keeps its size while the pool is open.
            unsafe { memmap2::Mmap::map(&file) }
        });
        match map {
            Ok(map) if map.len() as u64 >= pool_size => {
                self.pools.insert(pool_id, HostPool { name, map });
            }
            Ok(map) => {
                self.problems.push(format!("OpenPool {pool_id}: file of {} bytes, {pool_size} announced", map.len()))
            }
            Err(e) => self.problems.push(format!("OpenPool {pool_id}: cannot map {}: {e}", path.display())),
        }
    }

    fn check_buffer(&self, b: &HostBuffer) -> Result<(), String> {
        let pool = self.pools.get(&b.pool_id).ok_or_else(|| format!("unknown pool {}", b.pool_id))?;
        if u64::from(b.stride) < u64::from(b.width) * 4 {
            return Err(format!("stride {} below width {} x 4", b.stride, b.width));
        }
        let end = b.offset.checked_add(u64::from(b.stride) * u64::from(b.height));
        match end {
            Some(end) if end <= pool.map.len() as u64 => {}
            _ => return Err(format!("ends past the pool's {} bytes", pool.map.len())),
        }
        Ok(())
    }

    fn present(&mut self, p: PresentBuffer) -> Vec<Vec<u8>> {
        let (window_id, present_id) = (p.window_id, p.present_id);
        self.presents.push(p.clone());
        self.present_arrivals.push(std::time::Instant::now());
        match self.copy_out(&p) {
            Ok(copied) => self.bytes_copied += copied,
            Err(why) => self.problems.push(format!("PresentBuffer {present_id}: {why}")),
        }
        self.answer(window_id, present_id)
    }

    /// Copies the dirty rectangle of the presented buffer into the window's picture.
    fn copy_out(&mut self, p: &PresentBuffer) -> Result<u64, String> {
        let b = *self.buffers.get(&p.buffer_id).ok_or_else(|| format!("unknown buffer {}", p.buffer_id))?;
        // Checked again: the pool may have been closed and another opened under its id.
        self.check_buffer(&b)?;
        let pool = &self.pools[&b.pool_id];
        let image = self.images.entry(p.window_id).or_insert_with(|| HostImage::new(b.width, b.height));
        if (image.width, image.height) != (b.width, b.height) {
            *image = HostImage::new(b.width, b.height);
        }
        let r = p.dirty.clip(b.width, b.height);
        let len = r.width as usize * 4;
        for y in r.y..r.y + r.height {
            let from = b.offset as usize + y as usize * b.stride as usize + r.x as usize * 4;
            let to = (y as usize * b.width as usize + r.x as usize) * 4;
            image.bgra[to..to + len].copy_from_slice(&pool.map[from..from + len]);
        }
        image.presents += 1;
        image.target = (p.target_width, p.target_height);
        image.last_dirty = r;
        image.last_present_id = p.present_id;
        Ok(len as u64 * u64::from(r.height))
    }

    fn answer(&mut self, window_id: u64, present_id: u64) -> Vec<Vec<u8>> {
        let ack =
            |window_id, present_id| Pdu::PresentBufferAck { window_id, present_id }.encode().expect("an ack encodes");
        let m = self.misbehave;
        if m.withhold_acks {
            return Vec::new();
        }
        if self.hold_acks_of == Some(window_id) {
            self.held_acks.push((window_id, present_id));
            return Vec::new();
        }
        let mut out = Vec::new();
        if m.acks_for_nothing {
            out.push(ack(window_id ^ 0xDEAD_0000, present_id));
            out.push(ack(window_id, present_id.wrapping_add(1_000_000)));
        }
        if m.unknown_ids {
            out.push(ack(window_id ^ 0xBEEF_0000, present_id.wrapping_add(2_000_000)));
        } else {
            if m.lying_lengths {
                let mut lie = ack(window_id, present_id);
                lie[4] = lie[4].wrapping_add(4);
                out.push(lie);
            }
            out.push(ack(window_id, present_id));
        }
        self.acks_sent += out.len() as u64;
        out
    }
}

/// The shared state; the channel writes, the test reads (and sets [`Misbehave`]).
pub type SharedVailHost = crate::Shared<VailHostState>;

/// The host's `Microsoft::Windows::RDS::RemoteAppGraphicsRedirection` channel.
pub struct GfxRedirHost {
    dir: PathBuf,
    /// The caps sets advertised when the channel opens (v2.0 by default).
    pub advertise: Vec<CapsSet>,
    /// Sends LegacyCaps before the advertise, as old hosts do; alone (with `advertise`
    /// empty) it is an old host.
    pub legacy: bool,
    state: SharedVailHost,
}

impl_as_any!(GfxRedirHost);

impl GfxRedirHost {
    /// A host that maps pools from `dir` (the folder the server puts them in).
    pub fn new(dir: impl Into<PathBuf>) -> GfxRedirHost {
        GfxRedirHost {
            dir: dir.into(),
            advertise: vec![CapsSet::v2(0)],
            legacy: false,
            state: SharedVailHost::default(),
        }
    }

    /// What the host saw, to keep after the client owns the channel.
    pub fn state(&self) -> SharedVailHost {
        self.state.clone()
    }

    /// The host's hello: LegacyCaps and/or CapsAdvertise, encoded.
    pub fn hello(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if self.legacy {
            out.push(Pdu::LegacyCaps { version: codec::LEGACY_VERSION }.encode().expect("LegacyCaps encodes"));
        }
        if !self.advertise.is_empty() {
            match Pdu::CapsAdvertise(self.advertise.clone()).encode() {
                Ok(bytes) => out.push(bytes),
                Err(e) => self.state.lock().problems.push(format!("own CapsAdvertise: {e}")),
            }
        }
        out
    }

    /// One message from the server: every PDU in it; returns the answers, encoded.
    pub fn receive(&mut self, payload: &[u8]) -> Vec<Vec<u8>> {
        let mut state = self.state.lock();
        let mut out = Vec::new();
        for bytes in codec::split(payload) {
            match codec::decode(bytes) {
                Ok(pdu) => out.extend(state.handle(&self.dir, pdu)),
                Err(e) => state.problems.push(format!("undecodable PDU from the server: {e}")),
            }
        }
        out
    }
}

impl DvcProcessor for GfxRedirHost {
    fn channel_name(&self) -> &str {
        codec::CHANNEL_NAME
    }

    fn start(&mut self, _channel_id: u32) -> PduResult<Vec<DvcMessage>> {
        Ok(EncodedPdu::messages(PDU, self.hello()))
    }

    fn process(&mut self, _channel_id: u32, payload: &[u8]) -> PduResult<Vec<DvcMessage>> {
        Ok(EncodedPdu::messages(PDU, self.receive(payload)))
    }
}

impl DvcClientProcessor for GfxRedirHost {}

impl crate::TestClient {
    /// The id of the gfxredir channel, once the server opened it.
    pub fn gfxredir_channel_id(&self) -> Option<u32> {
        self.dvc_channel_id::<GfxRedirHost>()
    }

    /// Sends `payloads` as they are on the gfxredir channel, one DVC message each (lying
    /// lengths, unknown ids, garbage), for robustness tests.
    pub async fn send_gfxredir(&mut self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
        self.send_dvc::<GfxRedirHost>(PDU, payloads).await
    }
}

#[cfg(test)]
#[path = "vail_tests.rs"]
mod tests;
