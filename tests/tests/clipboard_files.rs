//! Files through the clipboard, end to end, with the IronRDP test client as the host.
//!
//! Linux → host: `wl-copy -t text/uri-list` of two files and a folder (with a subfolder)
//! becomes a `FileGroupDescriptorW` list on the host; the client reads every file with SIZE
//! and RANGE requests at odd offsets and sizes and gets the bytes back unchanged; a file
//! deleted between two requests fails the next request alone; then a 50 MB file is read in
//! 4 MB ranges (time printed).
//!
//! Host → Linux: the client copies files, a folder and a `..\evil` entry; `wl-paste -t
//! text/uri-list` gets URIs of the copied items in a folder under the runtime directory, the
//! files there are byte-identical, the `..` entry is nowhere, the fetch ran under a lock, and
//! a second paste as `x-special/gnome-copied-files` reuses the fetched files; a paste
//! cancelled mid-fetch stops the fetch and the next paste works.
//!
//! With a real client, xfreerdp3 3.10 (`+clipboard`) in Xvfb: a host X copy of files as
//! `text/uri-list` pastes on Linux byte-identical, and a Linux copy reads byte-identical on the
//! host through xfreerdp3's own FUSE view of the server's files.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use wayrail_e2e::ironrdp::{clip, connect_clipboard, until_clipboard};
use wayrail_e2e::rdp::{FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, Client, Compositor};
use wayrail_rdp_testclient::clipboard::files::{FileClipboard, HostFile};
use wayrail_rdp_testclient::clipboard::ironrdp_cliprdr::pdu::{
    ClipboardFileAttributes, FileContentsFlags, PackedFileList,
};
use wayrail_rdp_testclient::ironrdp_svc::SvcMessage;
use wayrail_rdp_testclient::{ironrdp_core, ClipboardClient, TestClient};

const STEP: Duration = Duration::from_secs(30);
const LARGE_STEP: Duration = Duration::from_secs(240);
const BIG: usize = 50 * 1024 * 1024;
/// wayrail's id for its file list format.
const FILE_LIST_ID: u32 = 0xC0A3;

/// Deterministic bytes that differ at every offset of a small period.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    wayrail_rdp_testclient::fuzz::Rng(seed.wrapping_mul(2_654_435_761) | 1).bytes(len)
}

fn write(path: &Path, data: &[u8]) {
    std::fs::File::create(path).and_then(|mut f| f.write_all(data)).expect("writing a test file");
}

/// `wl-copy --foreground -t text/uri-list` of `paths`, kept running under a guard.
fn copy_uris(wr: &Compositor, paths: &[&Path]) -> Client {
    let list: String = paths.iter().map(|p| format!("file://{}\r\n", p.display())).collect();
    let file = wr.path(&format!("uris-{}.txt", paths.len()));
    write(&file, list.as_bytes());
    let mut cmd = wr.command("sh");
    cmd.args(["-c", &format!("exec wl-copy --foreground -t text/uri-list < '{}'", file.display())]);
    wr.spawn("wl-copy", cmd)
}

/// Waits for wayrail's next format list to hold its file list; pastes the list.
async fn host_file_list(wr: &Compositor, client: &mut TestClient, lists_before: usize) -> PackedFileList {
    until_clipboard(wr, client, STEP, "a file list offer", |c| {
        c.server_lists.len() > lists_before
            && c.server_formats().is_some_and(|f| {
                f.iter().any(|(id, name)| *id == FILE_LIST_ID && name.as_deref() == Some("FileGroupDescriptorW"))
            })
    })
    .await;
    let before = clip(client).responses.len();
    client.send_svc::<ClipboardClient>(ClipboardClient::request(FILE_LIST_ID)).await.expect("a data request");
    until_clipboard(wr, client, STEP, "the file list", |c| c.responses.len() > before).await;
    let data =
        clip(client).responses[before].clone().unwrap_or_else(|()| panic!("the file list failed\n{}", wr.log_tail(20)));
    ironrdp_core::decode(&data).expect("a FileGroupDescriptorW list")
}

/// One FileContents request of the client; its answer.
async fn file_contents(
    wr: &Compositor,
    client: &mut TestClient,
    stream: u32,
    messages: Vec<SvcMessage>,
) -> Result<Vec<u8>, ()> {
    client.send_svc::<ClipboardClient>(messages).await.expect("a file contents request");
    until_clipboard(wr, client, LARGE_STEP, "a file contents response", |c| c.files.response_to(stream).is_some())
        .await;
    clip(client).files.response_to(stream).cloned().expect("an answer")
}

/// Reads a whole file of the server's list with RANGE requests of `chunk` bytes from
/// `first` on (the bytes before it with one more request).
async fn read_file(
    wr: &Compositor,
    client: &mut TestClient,
    stream: &mut u32,
    index: u32,
    size: u64,
    first: u64,
    chunk: u32,
) -> Vec<u8> {
    let mut out = Vec::new();
    if first > 0 {
        *stream += 1;
        let head =
            file_contents(wr, client, *stream, FileClipboard::range_request(*stream, index, 0, first as u32)).await;
        out.extend(head.expect("the first bytes"));
    }
    let mut offset = first;
    while offset < size {
        *stream += 1;
        let data = file_contents(wr, client, *stream, FileClipboard::range_request(*stream, index, offset, chunk))
            .await
            .unwrap_or_else(|()| panic!("a range of file {index} at {offset} failed\n{}", wr.log_tail(20)));
        assert!(!data.is_empty(), "no data at {offset} of {size}");
        offset += data.len() as u64;
        out.extend(data);
    }
    out
}

async fn size_of(wr: &Compositor, client: &mut TestClient, stream: &mut u32, index: u32) -> Result<u64, ()> {
    *stream += 1;
    let data = file_contents(wr, client, *stream, FileClipboard::size_request(*stream, index)).await?;
    Ok(u64::from_le_bytes(data.try_into().expect("8 bytes of size")))
}

#[tokio::test(flavor = "current_thread")]
async fn linux_files_reach_the_host_range_by_range() {
    require_programs!("wl-copy", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let mut client = connect_clipboard(&wr).await;

    let src = wr.path("copied");
    std::fs::create_dir_all(src.join("folder/sub")).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("a.txt", "Grüße, Linux → host\n".repeat(31).into_bytes()),
        ("b.bin", pattern(300_001, 1)),
        ("folder\\c.txt", b"c".to_vec()),
        ("folder\\sub\\d.bin", pattern(1_000_003, 2)),
    ];
    for (name, data) in &files {
        write(&src.join(name.replace('\\', "/")), data);
    }
    let lists = clip(&mut client).server_lists.len();
    let _copy = copy_uris(&wr, &[&src.join("a.txt"), &src.join("b.bin"), &src.join("folder")]);
    let list = host_file_list(&wr, &mut client, lists).await;

    let names: Vec<(String, bool, Option<u64>)> = list
        .files
        .iter()
        .map(|f| {
            (f.name.clone(), f.attributes.is_some_and(|a| a.contains(ClipboardFileAttributes::DIRECTORY)), f.file_size)
        })
        .collect();
    let expected: Vec<(String, bool, Option<u64>)> = vec![
        ("a.txt".into(), false, Some(files[0].1.len() as u64)),
        ("b.bin".into(), false, Some(300_001)),
        ("folder".into(), true, Some(0)),
        ("folder\\c.txt".into(), false, Some(1)),
        ("folder\\sub".into(), true, Some(0)),
        ("folder\\sub\\d.bin".into(), false, Some(1_000_003)),
    ];
    assert_eq!(names, expected, "the descriptor list");
    assert!(list.files.iter().all(|f| f.last_write_time.is_some_and(|t| t > 116_444_736_000_000_000)), "write times");

    // Every file, byte for byte, at odd offsets and sizes.
    let mut stream = 100;
    for (index, chunk) in [(0u32, 7u32), (1, 65_537), (3, 1), (5, 333_331)] {
        let (_, data) = files.iter().find(|(n, _)| *n == list.files[index as usize].name).expect("a copied file");
        assert_eq!(size_of(&wr, &mut client, &mut stream, index).await, Ok(data.len() as u64));
        let got = read_file(&wr, &mut client, &mut stream, index, data.len() as u64, 13, chunk).await;
        assert!(got == *data, "file {index} changed on its way to the host");
    }
    stream += 1;
    let odd = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 5, 777_777, 12_345)).await;
    assert!(odd == Ok(files[3].1[777_777..790_122].to_vec()), "a range at an odd offset differs");
    stream += 1;
    let tail = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 5, 1_000_000, 100)).await;
    assert!(tail == Ok(files[3].1[1_000_000..].to_vec()), "a range over the end differs");

    // A file deleted mid-transfer: its next request fails, the others still work.
    stream += 1;
    let first = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 1, 0, 1000)).await;
    assert!(first == Ok(files[1].1[..1000].to_vec()), "the first range of b.bin differs");
    std::fs::remove_file(src.join("b.bin")).unwrap();
    stream += 1;
    let gone = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 1, 1000, 1000)).await;
    assert_eq!(gone, Err(()), "a range of a deleted file");
    assert_eq!(size_of(&wr, &mut client, &mut stream, 1).await, Err(()), "the size of a deleted file");
    stream += 1;
    let next = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 0, 3, 50)).await;
    assert_eq!(next, Ok(files[0].1[3..53].to_vec()), "the next file after a failure");
    stream += 1;
    let folder = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 2, 0, 10)).await;
    assert_eq!(folder, Err(()), "a folder has no contents");
    stream += 1;
    let past = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 99, 0, 10)).await;
    assert_eq!(past, Err(()), "an index past the list");
    let log = wr.log_text();
    assert!(log.contains("a host file request failed") && log.contains("b.bin"), "the failure is logged with the file");

    // The host locks this copy's data; a new Linux copy (a 50 MB file) and its list come;
    // reads under the lock still see the locked list, reads without it the new one.
    client.send_svc::<ClipboardClient>(FileClipboard::lock(77, true)).await.expect("a lock");
    let big = pattern(BIG, 3);
    write(&wr.path("big.bin"), &big);
    let lists = clip(&mut client).server_lists.len();
    let _copy = copy_uris(&wr, &[&wr.path("big.bin")]);
    let list = host_file_list(&wr, &mut client, lists).await;
    assert_eq!(list.files.len(), 1);
    stream += 1;
    let locked =
        file_contents(&wr, &mut client, stream, FileClipboard::locked_range_request(stream, 0, 0, 50, 77)).await;
    assert_eq!(locked, Ok(files[0].1[..50].to_vec()), "a read under the lock");
    stream += 1;
    let unlocked = file_contents(&wr, &mut client, stream, FileClipboard::range_request(stream, 0, 0, 50)).await;
    assert_eq!(unlocked, Ok(big[..50].to_vec()), "a read of the new list");
    client.send_svc::<ClipboardClient>(FileClipboard::lock(77, false)).await.expect("an unlock");

    // 50 MB in 4 MB ranges.
    let started = Instant::now();
    let got = read_file(&wr, &mut client, &mut stream, 0, BIG as u64, 0, 4 * 1024 * 1024).await;
    let took = started.elapsed();
    assert!(got == big, "the 50 MB file changed on its way to the host");
    eprintln!("Linux → host, 50 MB file: {took:?} ({:.1} MB/s)", 50.0 / took.as_secs_f64());
}

/// Runs `wl-paste -t mime` in the background while the test client answers wayrail's file
/// requests; returns what it printed and how long it took.
async fn paste_in_linux(wr: &Compositor, client: &mut TestClient, mime: &str) -> (Vec<u8>, Duration) {
    let out = wr.path(&format!("paste-{}.out", mime.replace('/', "_")));
    let mut cmd = wr.command("timeout");
    cmd.args(["300", "wl-paste", "-n", "-t", mime])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("a paste file"))
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("starting wl-paste");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for wl-paste") {
            assert!(status.success(), "wl-paste ended with {status}\n{}", wr.log_tail(20));
            break;
        }
        if started.elapsed() > LARGE_STEP {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the paste took longer than {LARGE_STEP:?}\n{}", wr.log_tail(20));
        }
        client.pump(Duration::from_millis(10)).await.expect("pumping the test client");
    }
    (std::fs::read(&out).unwrap_or_default(), started.elapsed())
}

fn paths_of(list: &[u8]) -> Vec<PathBuf> {
    String::from_utf8_lossy(list)
        .lines()
        .filter(|l| l.starts_with("file://"))
        .map(|l| PathBuf::from(l.trim().strip_prefix("file://").unwrap().replace("%20", " ")))
        .collect()
}

fn all_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(entry.file_name().to_string_lossy().into_owned());
        if entry.path().is_dir() {
            out.extend(all_names(&entry.path()));
        }
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn host_files_reach_linux_and_a_dotdot_name_is_refused() {
    require_programs!("wl-paste", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let mut client = connect_clipboard(&wr).await;
    let big = pattern(BIG, 4);
    let copied = vec![
        HostFile::file("..\\evil", b"evil".to_vec()),
        HostFile::file("one file.txt", "Grüße, host → Linux\n".repeat(17).into_bytes()),
        HostFile::dir("folder"),
        HostFile::file("folder\\two.bin", pattern(1_234_567, 5)),
        HostFile::dir("folder\\empty"),
        HostFile::file("big.bin", big.clone()),
    ];
    let answered = clip(&mut client).list_responses.len();
    let messages = clip(&mut client).copy_files(copied.clone());
    client.send_svc::<ClipboardClient>(messages).await.expect("a format list");
    until_clipboard(&wr, &mut client, STEP, "a format list response", |c| c.list_responses.len() > answered).await;

    let (list, took) = paste_in_linux(&wr, &mut client, "text/uri-list").await;
    eprintln!("host → Linux, files with a 50 MB one: {took:?} ({:.1} MB/s)", 51.2 / took.as_secs_f64());
    let paths = paths_of(&list);
    let names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["one file.txt", "folder", "big.bin"], "{}\n{}", String::from_utf8_lossy(&list), wr.log_tail(20));
    let base = wr.runtime_dir().join("wayrail-files");
    assert!(paths.iter().all(|p| p.starts_with(&base)), "{paths:?} not under {}", base.display());
    assert_eq!(std::fs::read(&paths[0]).unwrap(), copied[1].data);
    assert!(std::fs::read(paths[1].join("two.bin")).unwrap() == copied[3].data, "two.bin changed");
    assert!(paths[1].join("empty").is_dir());
    assert!(std::fs::read(&paths[2]).unwrap() == big, "the 50 MB file changed on its way to Linux");
    assert!(!all_names(wr.runtime_dir()).iter().any(|n| n == "evil"), "the ..\\evil entry was written");
    assert!(wr.log_text().contains("a host file refused"), "the refusal is logged");

    // The fetch ran under a lock, released at its end, and named it in every request.
    let files = &clip(&mut client).files;
    let [(true, lock), (false, unlock)] = files.locks[..] else { panic!("locks: {:?}", files.locks) };
    assert_eq!(lock, unlock);
    assert!(files.requests_seen.iter().all(|r| r.data_id == Some(lock)));
    assert!(files.requests_seen.iter().any(|r| r.flags.contains(FileContentsFlags::SIZE)));
    assert!(!files.requests_seen.iter().any(|r| r.index == 0), "the refused entry was requested");
    let requests = files.requests_seen.len();

    // The same copy pasted again (as a file manager asks): the same files, nothing fetched.
    let (again, _) = paste_in_linux(&wr, &mut client, "x-special/gnome-copied-files").await;
    assert!(again.starts_with(b"copy\n"), "{}", String::from_utf8_lossy(&again));
    assert_eq!(paths_of(&again), paths);
    assert_eq!(clip(&mut client).files.requests_seen.len(), requests, "fetched again");

    // A paste cancelled mid-fetch (wl-paste killed): the fetch stops; the next paste works.
    let cancelled = pattern(BIG, 6);
    let answered = clip(&mut client).list_responses.len();
    let messages = clip(&mut client).copy_files(vec![HostFile::file("cancel.bin", cancelled.clone())]);
    client.send_svc::<ClipboardClient>(messages).await.expect("a format list");
    until_clipboard(&wr, &mut client, STEP, "a format list response", |c| c.list_responses.len() > answered).await;
    let ranges = |c: &ClipboardClient| {
        c.files.requests_seen.iter().filter(|r| r.flags.contains(FileContentsFlags::RANGE)).count()
    };
    let before = ranges(clip(&mut client));
    // wl-paste in a process group of its own: it reads through a `cat` child, and killing
    // the group closes every reader of the pipe.
    let mut cmd = wr.command("wl-paste");
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(["-n", "-t", "text/uri-list"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("starting wl-paste");
    until_clipboard(&wr, &mut client, STEP, "the first range request", |c| ranges(c) > before).await;
    let group = format!("-{}", child.id());
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.wait();
    let started = Instant::now();
    while !wr.log_text().contains("the pasting app is gone") {
        assert!(started.elapsed() < STEP, "the fetch did not stop\n{}", wr.log_tail(20));
        client.pump(Duration::from_millis(20)).await.expect("pumping the test client");
    }
    client.pump(Duration::from_millis(300)).await.expect("pumping the test client");
    let fetched = ranges(clip(&mut client)) - before;
    assert!(fetched < 4, "{fetched} of 13 ranges fetched after the paste was cancelled");
    let (list, _) = paste_in_linux(&wr, &mut client, "text/uri-list").await;
    let paths = paths_of(&list);
    assert_eq!(paths.len(), 1, "{}", String::from_utf8_lossy(&list));
    assert!(std::fs::read(&paths[0]).unwrap() == cancelled, "the file after a cancelled paste changed");
}

/// wayrail, an Xvfb, and xfreerdp3 in it connected with the clipboard.
fn xfreerdp3_with_clipboard() -> (Compositor, Xvfb, FreeRdp) {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &["+clipboard"]);
    (wr, x, rdp)
}

/// A folder `name` of the private directory holding `one.txt` (`line` a hundred times),
/// `folder/two.bin` (3 MB) and `big.bin` (BIG bytes), the last two from `seed`: the folder and
/// the three files' bytes.
fn three_items(wr: &Compositor, name: &str, line: &str, seed: u32) -> (PathBuf, [Vec<u8>; 3]) {
    let src = wr.path(name);
    std::fs::create_dir_all(src.join("folder")).unwrap();
    let bytes = [line.repeat(100).into_bytes(), pattern(3_000_017, seed), pattern(BIG, seed + 2)];
    for (file, data) in ["one.txt", "folder/two.bin", "big.bin"].iter().zip(&bytes) {
        write(&src.join(file), data);
    }
    (src, bytes)
}

/// A real client: a host X app copies two files (one of 50 MB) and a folder (`text/uri-list`
/// on the host's X clipboard); xfreerdp3 turns them into a file list, and `wl-paste` on
/// Linux gets URIs of byte-identical copies (time printed).
#[test]
fn host_files_from_xfreerdp3_reach_linux() {
    require_programs!("Xvfb", "xfreerdp3", "xclip", "wl-paste", "timeout");
    let (wr, x, _rdp) = xfreerdp3_with_clipboard();
    let (src, [one, two, big]) = three_items(&wr, "host-side", "Grüße vom Host\n", 7);
    let uris: String = [src.join("one.txt"), src.join("folder"), src.join("big.bin")]
        .iter()
        .map(|p| format!("file://{}\r\n", p.display()))
        .collect();
    let list = wr.path("host-uris.txt");
    write(&list, uris.as_bytes());
    let mut cmd = x.command("xclip");
    cmd.args(["-quiet", "-selection", "clipboard", "-t", "text/uri-list", "-i"]).arg(&list);
    let _host = wr.spawn("xclip-host", cmd);

    let paste = || {
        let mut cmd = wr.command("timeout");
        cmd.args(["60", "wl-paste", "-n", "-t", "text/uri-list"]).stdin(Stdio::null()).stderr(Stdio::null());
        cmd.output().map(|o| o.stdout).unwrap_or_default()
    };
    let started = Instant::now();
    let got = paste_until_paths(3, LARGE_STEP, paste);
    let paths = paths_of(&got);
    assert_eq!(paths.len(), 3, "wl-paste: {:?}\n{}", String::from_utf8_lossy(&got), wr.log_tail(30));
    eprintln!("xfreerdp3 → Linux, two files (one of 50 MB) and a folder: {:?}", started.elapsed());
    assert!(paths.iter().all(|p| p.starts_with(wr.runtime_dir().join("wayrail-files"))), "{paths:?}");
    assert_eq!(std::fs::read(&paths[0]).unwrap(), one);
    assert!(std::fs::read(paths[1].join("two.bin")).unwrap() == two, "two.bin changed on its way from xfreerdp3");
    assert!(std::fs::read(&paths[2]).unwrap() == big, "the 50 MB file changed on its way from xfreerdp3");
}

/// Pastes with `paste` until the URI list it gets names `n` paths, for up to `limit`; the
/// last list it got.
fn paste_until_paths(n: usize, limit: Duration, paste: impl Fn() -> Vec<u8>) -> Vec<u8> {
    let started = Instant::now();
    let mut got = paste();
    while paths_of(&got).len() != n && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(500));
        got = paste();
    }
    got
}

/// A real client the other way: a Linux copy of two files (one of 50 MB) and a folder, read
/// on the host through xfreerdp3's own file clipboard (it shows the server's files under a
/// FUSE mount of its own; time printed).
#[test]
fn linux_files_reach_xfreerdp3() {
    require_programs!("Xvfb", "xfreerdp3", "xclip", "wl-copy", "timeout");
    let (wr, x, _rdp) = xfreerdp3_with_clipboard();
    let (src, [one, two, big]) = three_items(&wr, "linux-side", "Grüße von Linux\n", 8);
    let _copy = copy_uris(&wr, &[&src.join("one.txt"), &src.join("folder"), &src.join("big.bin")]);

    let paste = || {
        let mut cmd = x.command("timeout");
        cmd.args(["20", "xclip", "-o", "-selection", "clipboard", "-t", "text/uri-list"]);
        cmd.stdin(Stdio::null()).stderr(Stdio::null());
        cmd.output().map(|o| o.stdout).unwrap_or_default()
    };
    let got = paste_until_paths(3, STEP, paste);
    let paths = paths_of(&got);
    assert_eq!(paths.len(), 3, "host xclip: {:?}\n{}", String::from_utf8_lossy(&got), wr.log_tail(30));
    // Not the Linux paths themselves: xfreerdp3's own copies, read through the channel.
    assert!(paths.iter().all(|p| !p.starts_with(&src)), "{paths:?}");
    eprintln!("xfreerdp3 shows the files as {paths:?}");
    assert_eq!(std::fs::read(&paths[0]).unwrap(), one);
    assert!(std::fs::read(paths[1].join("two.bin")).unwrap() == two, "two.bin changed on its way to xfreerdp3");
    let read = Instant::now();
    assert!(std::fs::read(&paths[2]).unwrap() == big, "the 50 MB file changed on its way to xfreerdp3");
    eprintln!("Linux → xfreerdp3, the 50 MB file read through its FUSE view: {:?}", read.elapsed());
}
