//! Shared-memory pools: one file a window in a folder the host maps by name, holding the
//! window's pixels (ARGB8888, stride = width × 4, one buffer at offset 0).
//!
//! WSL's host finds a pool by its section name in the folder it shares with the guest, so the
//! files must sit directly in that folder under `{UUID}` names; a folder of our own inside it
//! is not an option. Two wayrail instances may share the folder, and a crash leaves files
//! behind; to tell live pools from stale ones, every live pool holds a shared `flock` on its
//! file for as long as it exists, and [`sweep_stale`] removes only files it can lock
//! exclusively. A pool is created under a dot-name, locked, then renamed into place, so no
//! sweeper ever sees a `{UUID}` file that is not yet locked.

use std::ffi::OsString;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use memmap2::MmapMut;
use rustix::fs::{FallocateFlags, FlockOperation, RenameFlags};
use thiserror::Error;

use crate::codec::Rect;

/// Bytes a pixel (ARGB8888).
pub const BYTES_PER_PIXEL: usize = 4;
/// The widest or tallest window a pool is made for (RDP's own limit is 8K per monitor).
pub const MAX_DIMENSION: u32 = 16384;
/// The folder the default pool folder is made in, under `$XDG_RUNTIME_DIR`.
pub const DEFAULT_SUBDIR: &str = "wayrail-shm";
/// The variable WSLGd sets when its shared-memory mount worked.
pub const MOUNT_POINT_VAR: &str = "WSL2_SHARED_MEMORY_MOUNT_POINT";

#[derive(Debug, Error)]
pub enum PoolError {
    #[error("no folder for shared-memory pools: neither ${MOUNT_POINT_VAR}, a configured folder nor $XDG_RUNTIME_DIR")]
    NoFolder,
    #[error("pool folder {path}: {why}")]
    Folder { path: PathBuf, why: String },
    #[error("pool size {width}x{height}: must be 1 to {MAX_DIMENSION} pixels each way")]
    Size { width: u32, height: u32 },
    #[error("pool file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PoolError + '_ {
    move |source| PoolError::Io { path: path.to_owned(), source }
}

/// Where pools go, in order: the WSL mount (`mount_point`, the variable's value), the
/// configured folder, `$XDG_RUNTIME_DIR/wayrail-shm`. Pure, so the order is testable.
pub fn choose_dir(
    mount_point: Option<OsString>,
    configured: Option<&Path>,
    runtime_dir: Option<&Path>,
) -> Option<PathBuf> {
    mount_point
        .filter(|m| !m.is_empty())
        .map(PathBuf::from)
        .or_else(|| configured.map(Path::to_owned))
        .or_else(|| runtime_dir.map(|r| r.join(DEFAULT_SUBDIR)))
}

/// The pool folder for this process (see [`choose_dir`]), made (mode 0700) when it is ours to
/// make, and checked to be a folder of this user otherwise; the WSL mount is taken as it is.
pub fn pool_dir(configured: Option<&Path>) -> Result<PathBuf, PoolError> {
    let mount = std::env::var_os(MOUNT_POINT_VAR).filter(|m| !m.is_empty());
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|r| !r.is_empty()).map(PathBuf::from);
    let from_mount = mount.is_some();
    let dir = choose_dir(mount, configured, runtime.as_deref()).ok_or(PoolError::NoFolder)?;
    if from_mount {
        let meta = std::fs::metadata(&dir).map_err(io_err(&dir))?;
        if !meta.is_dir() {
            return Err(PoolError::Folder { path: dir, why: "not a folder".into() });
        }
        return Ok(dir);
    }
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(PoolError::Io { path: dir, source: e }),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(io_err(&dir))?;
    if !meta.is_dir() {
        return Err(PoolError::Folder { path: dir, why: "not a folder (or a symlink)".into() });
    }
    if meta.uid() != rustix::process::getuid().as_raw() {
        return Err(PoolError::Folder { path: dir, why: format!("owned by uid {}, not by us", meta.uid()) });
    }
    Ok(dir)
}

/// `{` + a random (v4) UUID + `}`: 38 characters, the form WSL's host expects.
pub fn new_section_name() -> String {
    format!("{{{}}}", uuid::Uuid::new_v4().hyphenated())
}

/// Whether `name` is a section name as [`new_section_name`] makes them.
pub fn is_section_name(name: &str) -> bool {
    name.len() == 38
        && name.starts_with('{')
        && name.ends_with('}')
        && uuid::Uuid::try_parse(&name[1..37]).is_ok_and(|u| u.hyphenated().to_string() == name[1..37])
}

/// The name a pool has before it is locked and renamed into place.
fn staging_name(section: &str) -> String {
    format!(".{section}.new")
}

fn is_staging_name(name: &str) -> bool {
    name.strip_prefix('.').and_then(|n| n.strip_suffix(".new")).is_some_and(is_section_name)
}

pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the running system; it has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// `size` rounded up to whole pages.
pub fn round_to_page(size: u64) -> u64 {
    let page = page_size();
    size.div_ceil(page) * page
}

/// Pool serials: unique in the process, so a direct write and its present can be matched
/// across sessions and resizes.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// One window's pixels, shared with the host. Dropping it unmaps, unlinks and closes.
#[derive(Debug)]
pub struct Pool {
    name: String,
    path: PathBuf,
    /// Holds the shared lock that marks the pool live.
    _file: File,
    map: MmapMut,
    width: u32,
    height: u32,
    /// What a [`DirectWriter`] of this pool shares with it.
    shared: Arc<Shared>,
}

/// The part of a pool a [`DirectWriter`] on another thread shares: a second mapping of the
/// same file, and the gate that says whether the pool may be written. Every write to the pool,
/// through either mapping, happens with the gate locked, so two threads never write at once.
#[derive(Debug)]
struct Shared {
    serial: u64,
    width: u32,
    height: u32,
    gate: Mutex<Gate>,
}

#[derive(Debug)]
struct Gate {
    /// A present is in flight: the host may be reading the buffer.
    busy: bool,
    /// The pool is gone (its window closed or resized, its channel closed).
    closed: bool,
    map: MmapMut,
}

impl Shared {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        // A panic while holding the lock leaves plain bytes behind, nothing to repair.
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool {
    /// A new pool in `dir` for a `width` x `height` buffer, zeroed, with a new name.
    pub fn create(dir: &Path, width: u32, height: u32) -> Result<Pool, PoolError> {
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(PoolError::Size { width, height });
        }
        let size = round_to_page(u64::from(width) * u64::from(height) * BYTES_PER_PIXEL as u64);
        let name = new_section_name();
        let staging = dir.join(staging_name(&name));
        let path = dir.join(&name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&staging)
            .map_err(io_err(&staging))?;
        let made = (|| {
            rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared)?;
            // Blocks are allocated now, so a full disk fails here rather than as SIGBUS later.
            match rustix::fs::fallocate(&file, FallocateFlags::empty(), 0, size) {
                Ok(()) => {}
                Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => file.set_len(size)?,
                Err(e) => return Err(e.into()),
            }
            rename_no_replace(&staging, &path)
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_file(&staging);
            return Err(PoolError::Io { path, source: e });
        }
        // SAFETY: the file is ours (created exclusively, mode 0600) and stays open and at this
        // size for the map's life; the host only reads it.
        // The second map is the one a `DirectWriter` writes through (same SAFETY argument).
        let maps = unsafe { MmapMut::map_mut(&file) }.and_then(|a| Ok((a, unsafe { MmapMut::map_mut(&file) }?)));
        let (map, writer_map) = match maps {
            Ok(maps) => maps,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(PoolError::Io { path, source: e });
            }
        };
        let shared = Arc::new(Shared {
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            width,
            height,
            gate: Mutex::new(Gate { busy: false, closed: false, map: writer_map }),
        });
        Ok(Pool { name, path, _file: file, map, width, height, shared })
    }

    /// The pool's number in this process: a new pool (a resize) has a new one.
    pub fn serial(&self) -> u64 {
        self.shared.serial
    }

    /// A handle that writes into this pool from another thread (see [`DirectWriter`]).
    pub fn direct_writer(&self) -> DirectWriter {
        DirectWriter { shared: self.shared.clone() }
    }

    /// Whether the host may be reading the buffer (a present is in flight): direct writes
    /// wait until it is false again.
    pub fn set_busy(&mut self, busy: bool) {
        self.shared.gate().busy = busy;
    }

    /// The section name the host maps the pool by.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size: the buffer rounded up to whole pages.
    pub fn size(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn stride(&self) -> u32 {
        self.width * BYTES_PER_PIXEL as u32
    }

    /// The mapped bytes (the buffer, then the page's padding).
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Copies the rectangles `rects` of `src` (BGRA bytes, which is ARGB8888 read as
    /// little-endian words, `src_stride` bytes a row) to the same place in the pool, and
    /// nothing else. Each rectangle is clipped to the pool and to the rows and columns `src`
    /// has; returns the bytes copied.
    pub fn copy_rects(&mut self, src: &[u8], src_stride: usize, rects: &[Rect]) -> usize {
        let _gate = self.shared.gate();
        let stride = self.stride() as usize;
        let src_cols = (src_stride / BYTES_PER_PIXEL).min(u32::MAX as usize) as u32;
        let src_rows = src.len().checked_div(src_stride).unwrap_or(0).min(u32::MAX as usize) as u32;
        let (width, height) = (self.width.min(src_cols), self.height.min(src_rows));
        let mut copied = 0;
        for rect in rects {
            let r = rect.clip(width, height);
            if r.is_empty() {
                continue;
            }
            let len = r.width as usize * BYTES_PER_PIXEL;
            for row in r.y as usize..(r.y + r.height) as usize {
                let from = row * src_stride + r.x as usize * BYTES_PER_PIXEL;
                let to = row * stride + r.x as usize * BYTES_PER_PIXEL;
                self.map[to..to + len].copy_from_slice(&src[from..from + len]);
            }
            copied += len * r.height as usize;
        }
        copied
    }

    /// Copies a block of pixels (`src`: `at.width` x `at.height` BGRA pixels, `src_stride`
    /// bytes a row) to `at` in the pool, clipped to the pool and to what `src` holds; returns
    /// the bytes copied. For damage that arrives as tiles rather than as a whole image.
    pub fn write_rect(&mut self, at: Rect, src: &[u8], src_stride: usize) -> usize {
        let _gate = self.shared.gate();
        let stride = self.stride() as usize;
        let rows_in_src = src.len().checked_div(src_stride).unwrap_or(0);
        let cols_in_src = src_stride / BYTES_PER_PIXEL;
        let width = (at.width as usize).min(cols_in_src).min(self.width.saturating_sub(at.x) as usize);
        let height = (at.height as usize).min(rows_in_src).min(self.height.saturating_sub(at.y) as usize);
        if width == 0 || height == 0 {
            return 0;
        }
        let len = width * BYTES_PER_PIXEL;
        for row in 0..height {
            let to = (at.y as usize + row) * stride + at.x as usize * BYTES_PER_PIXEL;
            self.map[to..to + len].copy_from_slice(&src[row * src_stride..row * src_stride + len]);
        }
        len * height
    }
}

impl Drop for Pool {
    /// The name goes first, so the host cannot open the file anew; the map and the file (and
    /// its lock) go with the fields.
    fn drop(&mut self) {
        // A writer that still holds the shared part finds the pool closed; its map of the
        // unlinked file lives on with it, harmlessly.
        self.shared.gate().closed = true;
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), "could not remove the pool file: {e}");
        }
    }
}

/// Writes into a window's pool from the compositor's thread, straight from a client's
/// buffer: the one copy VAIL needs for a window whose content is a single shared-memory
/// buffer. The client's buffer can be read safely only where the compositor holds it (inside
/// smithay's `with_buffer_contents`, which guards against the client shrinking its pool), so
/// the copy happens there, into this second mapping of the pool's file, and the session then
/// only presents what was written. A write is refused while the host may be reading the
/// buffer (a present in flight) and once the pool is gone.
#[derive(Debug, Clone)]
pub struct DirectWriter {
    shared: Arc<Shared>,
}

/// Direct writes into pools in this process so far, and the bytes they copied (also counted
/// in the channel totals' bytes copied).
static TOTAL_DIRECT_WRITES: AtomicU64 = AtomicU64::new(0);

/// Writes through [`DirectWriter`]s in this process so far.
pub fn direct_writes_total() -> u64 {
    TOTAL_DIRECT_WRITES.load(Ordering::Relaxed)
}

impl DirectWriter {
    /// The serial of the pool written to (see [`Pool::serial`]).
    pub fn serial(&self) -> u64 {
        self.shared.serial
    }

    /// The buffer's size in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.shared.width, self.shared.height)
    }

    /// Copies the rectangles `rects` of `src` (`src_stride` bytes a row, ARGB8888 read as
    /// little-endian words; with `opaque`, XRGB8888, whose padding byte is written as 0xff,
    /// the alpha a renderer gives such a buffer) into the pool, `src`'s origin landing at
    /// `at`; each clipped to `src` and to the pool. Returns the bytes copied; None when the
    /// pool is gone or the host may be reading it (nothing is written then).
    pub fn write(&self, src: &[u8], src_stride: usize, opaque: bool, rects: &[Rect], at: (u32, u32)) -> Option<usize> {
        let mut gate = self.shared.gate();
        if gate.busy || gate.closed {
            return None;
        }
        let stride = self.shared.width as usize * BYTES_PER_PIXEL;
        let src_cols = (src_stride / BYTES_PER_PIXEL).min(u32::MAX as usize) as u32;
        let src_rows = src.len().checked_div(src_stride).unwrap_or(0).min(u32::MAX as usize) as u32;
        let mut copied = 0;
        for rect in rects {
            let r = rect.clip(src_cols, src_rows);
            let to = Rect::new(r.x.saturating_add(at.0), r.y.saturating_add(at.1), r.width, r.height);
            let to = to.clip(self.shared.width, self.shared.height);
            if r.is_empty() || to.is_empty() {
                continue;
            }
            let (from_x, from_y) = ((to.x - at.0) as usize, (to.y - at.1) as usize);
            let len = to.width as usize * BYTES_PER_PIXEL;
            for row in 0..to.height as usize {
                let from = &src[(from_y + row) * src_stride + from_x * BYTES_PER_PIXEL..][..len];
                let to = &mut gate.map[(to.y as usize + row) * stride + to.x as usize * BYTES_PER_PIXEL..][..len];
                if opaque {
                    for (d, s) in to.chunks_exact_mut(4).zip(from.chunks_exact(4)) {
                        d.copy_from_slice(&[s[0], s[1], s[2], 0xff]);
                    }
                } else {
                    to.copy_from_slice(from);
                }
            }
            copied += len * to.height as usize;
        }
        TOTAL_DIRECT_WRITES.fetch_add(1, Ordering::Relaxed);
        crate::channel::count_bytes_copied(copied);
        Some(copied)
    }
}

/// `rename` that never replaces a file (two pools drawing the same UUID); plain `rename` where
/// the file system has no RENAME_NOREPLACE.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let cwd = rustix::fs::CWD;
    match rustix::fs::renameat_with(cwd, from, cwd, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e)
            if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::OPNOTSUPP =>
        {
            std::fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes pool files a crashed wayrail left in `dir`: files named like pools (or pools being
/// made), owned by this user, regular, and not locked by a live pool of any process. Anything
/// else is left alone. Returns the paths removed.
pub fn sweep_stale(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let uid = rustix::process::getuid().as_raw();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_section_name(name) && !is_staging_name(name) {
            continue;
        }
        let path = entry.path();
        match remove_if_stale(&path, uid) {
            Ok(true) => removed.push(path),
            Ok(false) => {}
            Err(e) => tracing::debug!(path = %path.display(), "stale pool check: {e}"),
        }
    }
    Ok(removed)
}

fn remove_if_stale(path: &Path, uid: u32) -> io::Result<bool> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() || meta.uid() != uid {
        return Ok(false);
    }
    let file = OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(path)?;
    let opened = file.metadata()?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return Ok(false);
    }
    if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        return Ok(false); // a live pool holds it
    }
    // Still the file we locked under that name? (Its pool may have ended and another taken
    // the name in between; removing that one would be wrong.)
    let now = std::fs::symlink_metadata(path)?;
    if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
        return Ok(false);
    }
    std::fs::remove_file(path)?;
    Ok(true)
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
