use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use super::*;

fn entry(index: u32, name: &str, dir: bool, size: Option<u64>) -> HostEntry {
    HostEntry {
        index,
        relative: crate::files::sanitize_host_name(name).unwrap(),
        dir,
        size,
        write_time: Some(133_000_000_000_000_000),
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

#[test]
fn the_tree_makes_up_implied_folders_and_leaves_out_clashes() {
    let entries = [
        entry(0, "a.txt", false, Some(3)),
        entry(1, "deep\\er\\b.bin", false, None),
        entry(2, "deep", true, None),
        entry(3, "a.txt", false, Some(9)),
        entry(4, "a.txt\\c", false, Some(1)),
        entry(5, "nosize", false, None),
    ];
    let mut asked = Vec::new();
    let (tree, left_out) = HostTree::build(&entries, |e| {
        asked.push(e.index);
        if e.index == 1 {
            Ok(77)
        } else {
            Err("gone".into())
        }
    });
    assert_eq!(asked, [1, 5], "only the entries without a size are sized");
    assert_eq!(tree.top_level(), [PathBuf::from("a.txt"), PathBuf::from("deep")]);
    assert_eq!(tree.totals(), (2, 80));
    assert_eq!(left_out.len(), 3, "{left_out:?}");
    assert!(left_out[0].contains("second entry") && left_out[1].contains("not a folder"), "{left_out:?}");
    assert!(left_out[2].contains("gone"), "{left_out:?}");
    let deep = tree.child(1, OsStr::new("deep")).unwrap();
    assert_eq!(tree.node(deep).index, Some(2), "the implied folder is the listed one");
    let er = tree.child(deep, OsStr::new("er")).unwrap();
    let b = tree.child(er, OsStr::new("b.bin")).unwrap();
    assert_eq!((tree.node(b).size, tree.node(b).index), (77, Some(1)));
}

/// Reads without a mount: blocks of READ_BLOCK serve the reads after them, short answers
/// are asked on from where they stopped, an empty answer is an error, and however many
/// files are read only MAX_BLOCKS blocks are kept.
#[test]
fn reads_fetch_blocks_and_keep_few() {
    let entries: Vec<HostEntry> =
        (0..10).map(|i| entry(i, &format!("f{i}"), false, Some(3 * u64::from(READ_BLOCK)))).collect();
    let (tree, _) = HostTree::build(&entries, |_| Err("no".into()));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let request: HostRequest = Box::new(move |index, what| {
        log.lock().unwrap().push((index, what));
        let FileRequest::Range { offset, len } = what else { return Err("size".into()) };
        if index == 9 {
            return Ok(FileData::Bytes(Vec::new()));
        }
        let n = len.min(1_000_000) as u64; // short answers
        Ok(FileData::Bytes((offset..offset + n).map(|b| (b % 251) as u8 ^ index as u8).collect()))
    });
    let fs = HostFs::new(tree, request, "unmounted".into());
    let expect = |index: u8, offset: u64, len: u64| -> Vec<u8> {
        (offset..offset + len).map(|b| (b % 251) as u8 ^ index).collect()
    };
    let read = |ino: u64, offset: u64, len: usize| fs.read_at(ino, fs.tree.node(ino), offset, len);
    // Inode 2 is f0.
    assert_eq!(read(2, 10, 100).unwrap(), expect(0, 10, 100));
    assert_eq!(asked.lock().unwrap().len(), 1, "one request for a first small read");
    // The block is what the first answer gave: 1 000 000 bytes from 10.
    assert_eq!(read(2, 500_000, 131_072).unwrap(), expect(0, 500_000, 131_072));
    assert_eq!(asked.lock().unwrap().len(), 1, "served from the block");
    assert_eq!(read(2, 950_000, 131_072).unwrap(), expect(0, 950_000, 131_072));
    assert_eq!(asked.lock().unwrap().len(), 2, "past the block: the next one");
    assert_eq!(read(2, 3_000_000, 1_500_000).unwrap(), expect(0, 3_000_000, 1_500_000));
    assert_eq!(asked.lock().unwrap().len(), 4, "a short answer is asked on from where it stopped");
    assert_eq!(asked.lock().unwrap()[3], (0, FileRequest::Range { offset: 4_000_000, len: READ_BLOCK - 1_000_000 }));
    assert_eq!(read(2, 4_900_000, 4096).unwrap(), expect(0, 4_900_000, 4096));
    assert_eq!(asked.lock().unwrap().len(), 4, "served from the block");
    let err = read(11, 0, 10).unwrap_err();
    assert!(err.contains("no data"), "{err}");
    for ino in 2..11 {
        read(ino, 7, 10).unwrap();
    }
    assert!(fs.blocks.lock().unwrap().len() <= MAX_BLOCKS);
    fs.closed.store(true, Ordering::Relaxed);
    assert!(read(5, 3_000_000, 10).is_err(), "a closed view reads nothing");
}

/// Whether FUSE works here; without it the test is skipped, except in CI, which has it.
fn fuse_here() -> bool {
    match fuse_available() {
        Ok(()) => true,
        Err(why) => {
            assert!(std::env::var_os("CI").is_none(), "CI must have FUSE: {why}");
            eprintln!("skipped: no FUSE here ({why})");
            false
        }
    }
}

/// A mount that must work where FUSE is available (CI installs it): a directory walk, a
/// large file read whole and at odd offsets byte for byte in few host requests, a file the
/// host fails reads as EIO alone, and after unmounting the mount point is gone.
#[test]
fn a_mounted_host_list_reads_on_demand_and_unmounts() {
    if !fuse_here() {
        return;
    }
    let big = pattern(9 * 1024 * 1024 + 17);
    let small = b"small file\n".to_vec();
    let entries = [
        entry(0, "big.bin", false, Some(big.len() as u64)),
        entry(1, "folder", true, Some(0)),
        entry(2, "folder\\small.txt", false, Some(small.len() as u64)),
        entry(3, "folder\\gone.bin", false, Some(5000)),
    ];
    let (tree, left_out) = HostTree::build(&entries, |_| Err("no".into()));
    assert!(left_out.is_empty());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let (big2, small2) = (big.clone(), small.clone());
    let request: HostRequest = Box::new(move |index, what| {
        counted.fetch_add(1, Ordering::Relaxed);
        let FileRequest::Range { offset, len } = what else { return Err("a size request".into()) };
        let data = match index {
            0 => &big2,
            2 => &small2,
            _ => return Err("the host could not read the file".into()),
        };
        let from = (offset as usize).min(data.len());
        let to = (from + len as usize).min(data.len()).min(from + 700_000); // short answers
        Ok(FileData::Bytes(data[from..to].to_vec()))
    });
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("paste");
    std::fs::create_dir(&mnt).unwrap();
    let mount = HostMount::mount(HostFs::new(tree, request, "test".into()), &mnt).expect("mounting");
    assert!(is_mounted(&mnt));
    let mut names: Vec<String> =
        std::fs::read_dir(&mnt).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["big.bin", "folder"]);
    assert_eq!(std::fs::metadata(mnt.join("big.bin")).unwrap().len(), big.len() as u64);
    assert!(std::fs::metadata(mnt.join("folder")).unwrap().is_dir());
    assert_eq!(std::fs::read(mnt.join("folder/small.txt")).unwrap(), small);
    let err = std::fs::read(mnt.join("folder/gone.bin")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let before = requests.load(Ordering::Relaxed);
    assert!(std::fs::read(mnt.join("big.bin")).unwrap() == big, "the big file differs");
    let used = requests.load(Ordering::Relaxed) - before;
    // Blocks of READ_BLOCK answered 700 000 bytes at a time: 14 answers, not one per 128 KB.
    assert!(used <= 20, "{used} host requests for 9 MB");
    use std::io::{Read as _, Seek as _};
    let mut f = std::fs::File::open(mnt.join("big.bin")).unwrap();
    f.seek(std::io::SeekFrom::Start(5_555_555)).unwrap();
    let mut buf = vec![0; 12_345];
    f.read_exact(&mut buf).unwrap();
    assert!(buf == big[5_555_555..5_555_555 + 12_345], "a read at an odd offset differs");
    assert!(std::fs::write(mnt.join("new"), b"x").is_err(), "the mount is read-only");
    drop(f);
    mount.unmount();
    let gone = wait(|| !is_mounted(&mnt));
    assert!(gone, "still mounted after unmount");
    assert!(std::fs::read_dir(&mnt).unwrap().next().is_none(), "the folder is empty again");
}

/// A host that never answers fails the read with EIO once the request function gives up,
/// and an unmount while an app holds a file open detaches at once.
#[test]
fn a_silent_host_fails_reads_and_a_busy_mount_still_unmounts() {
    if !fuse_here() {
        return;
    }
    let (tree, _) = HostTree::build(&[entry(0, "slow.bin", false, Some(1000))], |_| Err("no".into()));
    let request: HostRequest = Box::new(|_, _| {
        std::thread::sleep(Duration::from_millis(300));
        Err("no answer from the host within 300ms".into())
    });
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("paste");
    std::fs::create_dir(&mnt).unwrap();
    let mount = HostMount::mount(HostFs::new(tree, request, "silent".into()), &mnt).expect("mounting");
    let mut f = std::fs::File::open(mnt.join("slow.bin")).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 10];
    use std::io::Read as _;
    let err = f.read(&mut buf).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert!(started.elapsed() < Duration::from_secs(5));
    mount.unmount();
    assert!(wait(|| !is_mounted(&mnt)), "a busy mount stays");
    drop(f);
}

fn wait(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
