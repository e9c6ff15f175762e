//! A host's file list as a read-only FUSE file system: the host's files appear under the
//! paste's folder at once and each read becomes a FileContents RANGE request, so a large
//! file's first bytes arrive after one round trip and nothing is copied twice.
//!
//! [`HostTree`] is the list as folders and files (folders the list implies but does not
//! name are made up; a second entry of one name is left out). [`HostFs`] serves it through
//! the `fuser` crate's pure-Rust mount (no libfuse: `mount(2)` as root, else the setuid
//! `fusermount3`), on fuser's own thread. Reads ask the host for blocks of [`READ_BLOCK`]
//! bytes through the caller's request function, which must give up after a bounded time: a
//! read the host does not answer, or answers with an error, fails with EIO, alone.
//! [`HostMount::unmount`] detaches the mount lazily (an app holding a file open keeps it
//! until it closes it, and its reads fail from then on).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, MountOption,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry, ReplyOpen, Request,
};

use crate::files::{from_filetime, FileData, FileRequest, HostEntry};

/// The most one read asks of the host: the kernel reads 128 KB at a time, and a round trip
/// per 128 KB would make a large file crawl; a block this size is kept for the next reads.
pub const READ_BLOCK: u32 = 2 * 1024 * 1024;

/// How long the kernel may keep names and attributes: the list never changes.
const TTL: Duration = Duration::from_secs(3600);

/// The environment variable that turns the FUSE view off (`0`, `off`, `no`): pastes fetch.
pub const FUSE_ENV: &str = "WAYRAIL_CLIPBOARD_FUSE";

/// Asks the host for part of file `index` of its list; must return within a bounded time.
pub type HostRequest = Box<dyn Fn(u32, FileRequest) -> Result<FileData, String> + Send + Sync>;

#[derive(Debug)]
struct Node {
    name: OsString,
    parent: u64,
    dir: bool,
    /// Its index in the host's list (None: a folder the list only implies).
    index: Option<u32>,
    size: u64,
    mtime: SystemTime,
    children: Vec<u64>,
}

/// A host's file list as a tree; node `n` is inode `n + 1`, the root inode 1.
#[derive(Debug)]
pub struct HostTree {
    nodes: Vec<Node>,
    by_name: HashMap<(u64, OsString), u64>,
}

impl HostTree {
    /// The tree of `entries` (names sanitised already). A file whose list entry carries no
    /// size gets it from `size_of` (a SIZE request); one whose size cannot be had is left
    /// out. Returns the tree and what was left out, with why.
    pub fn build(
        entries: &[HostEntry],
        mut size_of: impl FnMut(&HostEntry) -> Result<u64, String>,
    ) -> (HostTree, Vec<String>) {
        let now = SystemTime::now();
        let root = Node {
            name: OsString::new(),
            parent: 1,
            dir: true,
            index: None,
            size: 0,
            mtime: now,
            children: Vec::new(),
        };
        let mut tree = HostTree { nodes: vec![root], by_name: HashMap::new() };
        let mut left_out = Vec::new();
        for entry in entries {
            let parts: Vec<&OsStr> = entry
                .relative
                .components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect();
            let Some((leaf, folders)) = parts.split_last() else {
                left_out.push(format!("{}: an empty name", entry.relative.display()));
                continue;
            };
            let mut parent = 1u64;
            let mut blocked = false;
            for folder in folders {
                parent = match tree.child(parent, folder) {
                    Some(ino) if tree.node(ino).dir => ino,
                    Some(_) => {
                        blocked = true;
                        break;
                    }
                    None => tree.add(parent, folder, true, None, 0, now),
                };
            }
            if blocked {
                left_out.push(format!("{}: a file of that name is not a folder", entry.relative.display()));
                continue;
            }
            let mtime = entry.write_time.and_then(from_filetime).unwrap_or(now);
            if let Some(ino) = tree.child(parent, leaf) {
                // A folder the list implied before naming it: it is that folder.
                let node = &mut tree.nodes[(ino - 1) as usize];
                if node.dir && entry.dir && node.index.is_none() {
                    node.index = Some(entry.index);
                    node.mtime = mtime;
                } else {
                    left_out.push(format!("{}: a second entry of that name", entry.relative.display()));
                }
                continue;
            }
            let size = if entry.dir {
                0
            } else {
                match entry.size.map_or_else(|| size_of(entry), Ok) {
                    Ok(size) => size,
                    Err(why) => {
                        left_out.push(format!("{}: its size: {why}", entry.relative.display()));
                        continue;
                    }
                }
            };
            tree.add(parent, leaf, entry.dir, Some(entry.index), size, mtime);
        }
        (tree, left_out)
    }

    fn add(&mut self, parent: u64, name: &OsStr, dir: bool, index: Option<u32>, size: u64, mtime: SystemTime) -> u64 {
        let ino = self.nodes.len() as u64 + 1;
        self.nodes.push(Node { name: name.to_owned(), parent, dir, index, size, mtime, children: Vec::new() });
        self.nodes[(parent - 1) as usize].children.push(ino);
        self.by_name.insert((parent, name.to_owned()), ino);
        ino
    }

    fn node(&self, ino: u64) -> &Node {
        &self.nodes[(ino - 1) as usize]
    }

    fn get(&self, ino: INodeNo) -> Option<&Node> {
        ino.0.checked_sub(1).and_then(|n| self.nodes.get(n as usize))
    }

    fn child(&self, parent: u64, name: &OsStr) -> Option<u64> {
        self.by_name.get(&(parent, name.to_owned())).copied()
    }

    /// The copied items: the names in the tree's root, in list order.
    pub fn top_level(&self) -> Vec<PathBuf> {
        self.nodes[0].children.iter().map(|ino| PathBuf::from(&self.node(*ino).name)).collect()
    }

    /// How many files (not folders) the tree holds, and their bytes.
    pub fn totals(&self) -> (usize, u64) {
        let files = self.nodes.iter().filter(|n| !n.dir);
        files.fold((0, 0), |(n, bytes), f| (n + 1, bytes + f.size))
    }
}

/// The blocks read last (inode, offset, bytes), newest last: at most [`MAX_BLOCKS`], so a
/// paste of many files holds a few megabytes, not a block per file ever read.
type Blocks = Vec<(u64, u64, Arc<Vec<u8>>)>;

/// How many blocks are kept: a few files read side by side (a copy of a folder reads one
/// after the other) each keep theirs.
pub const MAX_BLOCKS: usize = 4;

/// The FUSE file system of one paste.
pub struct HostFs {
    tree: HostTree,
    request: HostRequest,
    closed: Arc<AtomicBool>,
    blocks: Mutex<Blocks>,
    uid: u32,
    gid: u32,
    /// For the log: when the mount was made, and whether a read came yet.
    mounted: Instant,
    first_read: AtomicBool,
    label: String,
}

impl HostFs {
    /// `label` names the paste in log lines.
    pub fn new(tree: HostTree, request: HostRequest, label: String) -> HostFs {
        // SAFETY: plain getters without arguments.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        HostFs {
            tree,
            request,
            closed: Arc::new(AtomicBool::new(false)),
            blocks: Mutex::new(Vec::new()),
            uid,
            gid,
            mounted: Instant::now(),
            first_read: AtomicBool::new(false),
            label,
        }
    }

    fn attr(&self, ino: u64, node: &Node) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size: node.size,
            blocks: node.size.div_ceil(512),
            atime: node.mtime,
            mtime: node.mtime,
            ctime: node.mtime,
            crtime: node.mtime,
            kind: if node.dir { FileType::Directory } else { FileType::RegularFile },
            perm: if node.dir { 0o755 } else { 0o644 },
            nlink: if node.dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 128 * 1024,
            flags: 0,
        }
    }

    /// `want` bytes of file `ino` from `offset` (all inside the file).
    fn read_at(&self, ino: u64, node: &Node, offset: u64, want: usize) -> Result<Vec<u8>, String> {
        let cached = self.blocks.lock().ok().and_then(|b| {
            b.iter()
                .find(|(i, start, block)| {
                    *i == ino && offset >= *start && offset + want as u64 <= start + block.len() as u64
                })
                .map(|(_, start, block)| (*start, block.clone()))
        });
        if let Some((start, block)) = cached {
            let from = (offset - start) as usize;
            return Ok(block[from..from + want].to_vec());
        }
        let index = node.index.ok_or("a folder has no contents")?;
        let block = (node.size - offset).min(u64::from(READ_BLOCK).max(want as u64)) as usize;
        let mut data: Vec<u8> = Vec::with_capacity(block);
        while data.len() < want {
            if self.closed.load(Ordering::Relaxed) {
                return Err("the paste's files are gone".into());
            }
            let at = offset + data.len() as u64;
            let ask = (block - data.len()) as u32;
            match (self.request)(index, FileRequest::Range { offset: at, len: ask })? {
                FileData::Bytes(bytes) if bytes.is_empty() => {
                    return Err(format!("the host sent no data at offset {at} of {}", node.size));
                }
                FileData::Bytes(bytes) => data.extend_from_slice(&bytes[..bytes.len().min(ask as usize)]),
                FileData::Size(_) => return Err("a RANGE request answered with a size".into()),
            }
        }
        let out = data[..want].to_vec();
        if let Ok(mut blocks) = self.blocks.lock() {
            // A file keeps one block: its newest.
            blocks.retain(|(i, _, _)| *i != ino);
            if blocks.len() >= MAX_BLOCKS {
                blocks.remove(0);
            }
            blocks.push((ino, offset, Arc::new(data)));
        }
        Ok(out)
    }

    /// The path of `ino` under the mount, for the log.
    fn path_of(&self, mut ino: u64) -> PathBuf {
        let mut parts = Vec::new();
        while ino > 1 {
            let node = self.tree.node(ino);
            parts.push(node.name.clone());
            ino = node.parent;
        }
        parts.iter().rev().collect()
    }
}

impl Filesystem for HostFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.tree.child(parent.0, name) {
            Some(ino) => reply.entry(&TTL, &self.attr(ino, self.tree.node(ino)), Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.tree.get(ino) {
            Some(node) => reply.attr(&TTL, &self.attr(ino.0, node)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.tree.get(ino) {
            None => reply.error(Errno::ENOENT),
            Some(node) if node.dir => reply.error(Errno::EISDIR),
            Some(_) if flags.0 & libc::O_ACCMODE != libc::O_RDONLY => reply.error(Errno::EROFS),
            Some(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(node) = self.tree.get(ino).filter(|n| !n.dir) else {
            return reply.error(Errno::ENOENT);
        };
        if self.closed.load(Ordering::Relaxed) {
            return reply.error(Errno::EIO);
        }
        if offset >= node.size {
            return reply.data(&[]);
        }
        let want = u64::from(size).min(node.size - offset) as usize;
        if !self.first_read.swap(true, Ordering::Relaxed) {
            tracing::info!(paste = %self.label, file = %self.path_of(ino.0).display(), since_mount = ?self.mounted.elapsed(), "the first read of the host's files");
        }
        match self.read_at(ino.0, node, offset, want) {
            Ok(data) => reply.data(&data),
            Err(why) => {
                tracing::warn!(paste = %self.label, file = %self.path_of(ino.0).display(), offset, "a read of a host file failed (EIO): {why}");
                reply.error(Errno::EIO);
            }
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let Some(node) = self.tree.get(ino) else { return reply.error(Errno::ENOENT) };
        if !node.dir {
            return reply.error(Errno::ENOTDIR);
        }
        let mut entries: Vec<(u64, FileType, &OsStr)> =
            vec![(ino.0, FileType::Directory, OsStr::new(".")), (node.parent, FileType::Directory, OsStr::new(".."))];
        for child in &node.children {
            let c = self.tree.node(*child);
            entries.push((*child, if c.dir { FileType::Directory } else { FileType::RegularFile }, &c.name));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// Whether FUSE can serve pastes here: `/dev/fuse` opens, and a mount can be made (as root,
/// or through `fusermount3`); and [`FUSE_ENV`] does not turn it off. Why not, otherwise.
pub fn fuse_available() -> Result<(), String> {
    if let Some(v) = std::env::var_os(FUSE_ENV) {
        if matches!(v.to_str(), Some("0" | "off" | "no" | "false")) {
            return Err(format!("{FUSE_ENV} turns it off"));
        }
    }
    std::fs::File::options().read(true).write(true).open("/dev/fuse").map_err(|e| format!("/dev/fuse: {e}"))?;
    // SAFETY: a plain getter without arguments.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && find_program("fusermount3").is_none() {
        return Err("no fusermount3 (Debian: the fuse3 package)".into());
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// A mounted paste; unmounted by [`HostMount::unmount`] or when dropped.
pub struct HostMount {
    path: PathBuf,
    session: Option<fuser::BackgroundSession>,
    closed: Arc<AtomicBool>,
}

impl HostMount {
    /// Mounts `fs` on the (empty) folder `path`; fuser's thread serves it.
    pub fn mount(fs: HostFs, path: &Path) -> std::io::Result<HostMount> {
        let closed = fs.closed.clone();
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::RO,
            MountOption::NoSuid,
            MountOption::NoDev,
            MountOption::FSName("wayrail".into()),
            MountOption::Subtype("wayrail-files".into()),
        ];
        let session = fuser::spawn_mount(fs, path, &config)?;
        Ok(HostMount { path: path.to_owned(), session: Some(session), closed })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// From now on every read fails (EIO); the mount stays until [`HostMount::unmount`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Detaches the mount (lazily: a file an app holds open stays until it is closed, and
    /// reads fail from now on) and lets fuser's thread end.
    pub fn unmount(mut self) {
        self.detach();
    }

    fn detach(&mut self) {
        let Some(session) = self.session.take() else { return };
        self.closed.store(true, Ordering::Relaxed);
        if let Err(why) = detach(&self.path) {
            tracing::warn!(path = %self.path.display(), "unmounting the host's files: {why}");
        }
        // The mount is gone already; fuser's thread ends when the kernel lets go of it.
        drop(session);
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Lazily unmounts the FUSE mount at `path`: `umount2(MNT_DETACH)` as root, else
/// `fusermount3 -u -z`.
pub fn detach(path: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) {
        // Not a mount point (any more).
        return Ok(());
    }
    let program = ["fusermount3", "fusermount"].into_iter().find(|p| find_program(p).is_some());
    let Some(program) = program else { return Err(format!("umount2: {err}; no fusermount3")) };
    let out = std::process::Command::new(program)
        .args(["-u", "-z", "-q", "--"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("umount2: {err}; {program}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Whether `path` is a mount point now (`/proc/self/mountinfo` names it).
pub fn is_mounted(path: &Path) -> bool {
    mount_points().iter().any(|p| p == path)
}

/// Every mount point, from `/proc/self/mountinfo` (octal escapes undone).
pub fn mount_points() -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|field| {
            let b = field.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                let octal = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
                match (b[i], octal) {
                    (b'\\', Some(d)) => {
                        out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                        i += 4;
                    }
                    (c, _) => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            PathBuf::from(OsString::from_vec(out))
        })
        .collect()
}

#[cfg(test)]
mod tests;
