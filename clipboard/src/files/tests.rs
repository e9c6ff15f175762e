use std::collections::HashMap;

use super::*;

fn write(path: &Path, data: &[u8]) {
    fs::write(path, data).unwrap();
}

#[test]
fn uri_lists_parse_and_build_both_mime_types() {
    let data = b"# a comment\r\nfile:///tmp/a%20b.txt\r\nfile://localhost/tmp/%C3%BC\r\n\
                 http://example.com/x\r\nfile://other/tmp/x\r\nfile:///tmp/nul%00x\r\n";
    let got = parse_uri_list(data);
    assert_eq!(got[0], Ok(PathBuf::from("/tmp/a b.txt")));
    assert_eq!(got[1], Ok(PathBuf::from("/tmp/ü")));
    assert!(got[2..].iter().all(Result::is_err), "{got:?}");
    let gnome = parse_uri_list(b"copy\nfile:///tmp/x\nfile:///tmp/y");
    assert_eq!(gnome, vec![Ok(PathBuf::from("/tmp/x")), Ok(PathBuf::from("/tmp/y"))]);

    let paths = vec![PathBuf::from("/run/a b/ü#1.txt"), PathBuf::from("/tmp/dir")];
    let list = uri_list(&paths, URI_LIST_MIME);
    assert_eq!(list, b"file:///run/a%20b/%C3%BC%231.txt\r\nfile:///tmp/dir\r\n");
    let parsed: Vec<PathBuf> = parse_uri_list(&list).into_iter().map(Result::unwrap).collect();
    assert_eq!(parsed, paths);
    let gnome = uri_list(&paths, GNOME_COPIED_FILES_MIME);
    assert!(gnome.starts_with(b"copy\nfile:///run/"));
    let parsed: Vec<PathBuf> = parse_uri_list(&gnome).into_iter().map(Result::unwrap).collect();
    assert_eq!(parsed, paths);
}

#[test]
fn filetimes_round_trip() {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_nanos(123_456_700);
    assert_eq!(filetime(UNIX_EPOCH), FILETIME_UNIX_EPOCH);
    assert_eq!(from_filetime(filetime(t)), Some(t));
    assert_eq!(from_filetime(0), None);
}

/// Two files and a folder with a subfolder: the list has every entry, folders before their
/// contents, `\` between names, and sizes, times and attributes; it decodes back the same.
#[test]
fn a_linux_copy_becomes_a_descriptor_list() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("a.txt"), b"alpha");
    write(&root.join("b.bin"), &[7u8; 3000]);
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    write(&root.join("dir/z.txt"), b"zz");
    write(&root.join("dir/sub/deep.txt"), b"deep");
    std::os::unix::fs::symlink(root.join("dir"), root.join("dir/sub/loop")).unwrap();
    fs::set_permissions(root.join("b.bin"), fs::Permissions::from_mode(0o444)).unwrap();

    let paths = vec![root.join("a.txt"), root.join("b.bin"), root.join("dir"), root.join("gone")];
    let list = LinuxFileList::collect(&paths);
    let names: Vec<(&str, bool, u64)> = list.entries.iter().map(|e| (e.name.as_str(), e.dir, e.size)).collect();
    assert_eq!(
        names,
        [
            ("a.txt", false, 5),
            ("b.bin", false, 3000),
            ("dir", true, 0),
            ("dir\\sub", true, 0),
            ("dir\\sub\\deep.txt", false, 4),
            ("dir\\z.txt", false, 2),
        ]
    );
    assert_eq!(list.skipped.len(), 2, "the vanished path and the link to a folder: {:?}", list.skipped);
    assert!(list.entries[1].readonly && !list.entries[0].readonly);
    let mtime = fs::metadata(root.join("a.txt")).unwrap().modified().unwrap();
    assert_eq!(list.entries[0].write_time, filetime(mtime));

    let data = list.encode().unwrap();
    assert_eq!(data.len(), 4 + 592 * 6);
    let (decoded, refused) = decode_host_list(&data).unwrap();
    assert!(refused.is_empty());
    assert_eq!(decoded[4].relative, PathBuf::from("dir/sub/deep.txt"));
    assert_eq!(decoded[4].size, Some(4));
    assert!(decoded[2].dir && !decoded[0].dir);
    assert_eq!(decoded[0].write_time, Some(filetime(mtime)));
    assert_eq!(top_level(&decoded), [PathBuf::from("a.txt"), PathBuf::from("b.bin"), PathBuf::from("dir")]);
}

#[test]
fn ranges_are_served_bounded_and_a_vanished_file_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    write(&tmp.path().join("f"), &data);
    write(&tmp.path().join("g"), b"gg");
    let list = LinuxFileList::collect(&[tmp.path().join("f"), tmp.path().join("g")]);
    assert_eq!(list.serve(0, FileRequest::Size), Ok(FileData::Size(100_000)));
    assert_eq!(
        list.serve(0, FileRequest::Range { offset: 77_777, len: 333 }),
        Ok(FileData::Bytes(data[77_777..78_110].to_vec()))
    );
    // Past the end: what there is, then nothing.
    assert_eq!(list.serve(0, FileRequest::Range { offset: 99_999, len: 10 }), Ok(FileData::Bytes(vec![data[99_999]])));
    assert_eq!(list.serve(0, FileRequest::Range { offset: 200_000, len: 10 }), Ok(FileData::Bytes(vec![])));
    assert!(list.serve(2, FileRequest::Size).is_err(), "no such index");
    fs::remove_file(tmp.path().join("f")).unwrap();
    let err = list.serve(0, FileRequest::Range { offset: 0, len: 10 }).unwrap_err();
    assert!(err.contains("No such file"), "{err}");
    assert_eq!(list.serve(1, FileRequest::Range { offset: 1, len: 10 }), Ok(FileData::Bytes(b"g".to_vec())));
}

#[test]
fn a_range_is_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("big");
    File::create(&f).unwrap().set_len(u64::from(MAX_RANGE_BYTES) + 4096).unwrap();
    assert_eq!(read_range(&f, 0, u32::MAX).unwrap().len(), MAX_RANGE_BYTES as usize);
    assert!(read_range(tmp.path(), 0, 1).is_err(), "a folder is no file");
}

#[test]
fn host_names_that_leave_the_folder_are_refused() {
    assert_eq!(sanitize_host_name("dir\\sub\\f.txt"), Ok(PathBuf::from("dir/sub/f.txt")));
    assert_eq!(sanitize_host_name("ü 1.txt"), Ok(PathBuf::from("ü 1.txt")));
    for bad in [
        "",
        "..\\evil",
        "../evil",
        "a\\..\\..\\b",
        ".",
        "\\abs",
        "/abs",
        "\\\\server\\share",
        "C:\\x",
        "C:x",
        "f:stream",
        "a\\\\b",
        "a\u{0}b",
        "dir\\",
    ] {
        assert!(sanitize_host_name(bad).is_err(), "{bad:?} passed");
    }
}

/// A host list with a `..\evil` entry and a folder: the bad name is refused, the rest is
/// fetched byte for byte through SIZE and RANGE requests, a failing file is removed and
/// reported while the next one still arrives.
#[test]
fn host_files_are_fetched_into_the_folder() {
    let big: Vec<u8> = (0..(FETCH_CHUNK_BYTES as usize * 2 + 1234)).map(|i| (i * 7 % 253) as u8).collect();
    let host: Vec<(&str, bool, Vec<u8>)> = vec![
        ("..\\evil", false, b"evil".to_vec()),
        ("one.txt", false, b"one".to_vec()),
        ("folder", true, vec![]),
        ("folder\\big.bin", false, big.clone()),
        ("folder\\broken", false, b"never".to_vec()),
        ("folder\\empty", false, vec![]),
        ("two.txt", false, b"two".to_vec()),
    ];
    let files = host
        .iter()
        .map(|(name, dir, data)| {
            let f = FileDescriptor::new(*name)
                .with_file_size(data.len() as u64)
                .with_last_write_time(filetime(UNIX_EPOCH + Duration::from_secs(1_000_000_000)));
            f.with_attributes(if *dir { ClipboardFileAttributes::DIRECTORY } else { ClipboardFileAttributes::ARCHIVE })
        })
        .collect();
    let data = ironrdp_core::encode_vec(&PackedFileList { files }).unwrap();
    let (entries, refused) = decode_host_list(&data).unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("evil"));

    let tmp = tempfile::tempdir().unwrap();
    let mut requests: HashMap<u32, Vec<FileRequest>> = HashMap::new();
    let report = fetch_host_files(
        &entries,
        tmp.path(),
        |index, what| {
            requests.entry(index).or_default().push(what);
            let (name, _, data) = &host[index as usize];
            match what {
                _ if *name == "folder\\broken" && matches!(what, FileRequest::Range { .. }) => Err("gone".into()),
                FileRequest::Size => Ok(FileData::Size(data.len() as u64)),
                FileRequest::Range { offset, len } => {
                    let start = (offset as usize).min(data.len());
                    let end = (start + len as usize).min(data.len());
                    Ok(FileData::Bytes(data[start..end].to_vec()))
                }
            }
        },
        |_, _, _| {},
        || false,
    );
    assert_eq!(report.items, [tmp.path().join("one.txt"), tmp.path().join("folder"), tmp.path().join("two.txt")]);
    assert_eq!(report.files, 4);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(fs::read(tmp.path().join("folder/big.bin")).unwrap(), big);
    assert_eq!(fs::read(tmp.path().join("two.txt")).unwrap(), b"two");
    assert_eq!(fs::read(tmp.path().join("folder/empty")).unwrap(), b"");
    assert!(!tmp.path().join("folder/broken").exists(), "a failed file is removed");
    assert!(!tmp.path().parent().unwrap().join("evil").exists());
    assert_eq!(requests[&3].len(), 1 + 3, "a SIZE request, then three RANGE requests");
    let mtime = fs::metadata(tmp.path().join("one.txt")).unwrap().modified().unwrap();
    assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(1_000_000_000));
}

/// A fetch told to stop (the pasting app is gone) ends at once and leaves no partial file.
#[test]
fn a_stopped_fetch_ends_and_removes_its_partial_file() {
    let big = vec![9u8; FETCH_CHUNK_BYTES as usize * 3];
    let files = vec![FileDescriptor::new("big.bin").with_file_size(big.len() as u64), FileDescriptor::new("next.txt")];
    let data = ironrdp_core::encode_vec(&PackedFileList { files }).unwrap();
    let (entries, _) = decode_host_list(&data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let requests = std::cell::Cell::new(0);
    let report = fetch_host_files(
        &entries,
        tmp.path(),
        |_, what| {
            requests.set(requests.get() + 1);
            match what {
                FileRequest::Size => Ok(FileData::Size(big.len() as u64)),
                FileRequest::Range { offset, len } => {
                    Ok(FileData::Bytes(big[offset as usize..][..len as usize].to_vec()))
                }
            }
        },
        |_, _, _| {},
        || requests.get() >= 2,
    );
    assert!(report.stopped);
    assert!(report.items.is_empty());
    assert_eq!(requests.get(), 2, "a SIZE and one RANGE request, then the stop");
    assert!(!tmp.path().join("big.bin").exists());
    assert!(!tmp.path().join("next.txt").exists());
}

/// A file of 4 GB or more (sparse) is listed with its full size for a client that takes
/// huge files, and left out (with why) for one that does not; the indices of the files
/// after it follow what the host is given, and a range past 4 GB reads.
#[test]
fn huge_files_are_listed_only_for_clients_that_take_them() {
    use std::os::unix::fs::FileExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let huge = tmp.path().join("huge.img");
    let f = File::create(&huge).unwrap();
    f.set_len(HUGE_FILE_BYTES + 10).unwrap();
    f.write_all_at(b"tail", HUGE_FILE_BYTES + 2).unwrap();
    drop(f);
    write(&tmp.path().join("small.txt"), b"small");
    let paths = [huge.clone(), tmp.path().join("small.txt")];
    let list = LinuxFileList::collect(&paths);
    assert_eq!(list.entries[0].size, HUGE_FILE_BYTES + 10);
    let decoded: PackedFileList = ironrdp_core::decode(&list.encode().unwrap()).unwrap();
    assert_eq!(decoded.files[0].file_size, Some(HUGE_FILE_BYTES + 10), "the size past 32 bits survives");
    assert_eq!(
        list.serve(0, FileRequest::Range { offset: HUGE_FILE_BYTES, len: 6 }),
        Ok(FileData::Bytes(b"\0\0tail".to_vec()))
    );
    let mut small = list.clone();
    small.without_huge_files();
    assert_eq!(small.entries.len(), 1);
    assert_eq!(small.entries[0].name, "small.txt");
    assert!(small.skipped.iter().any(|s| s.contains("huge.img") && s.contains("4 GB")), "{:?}", small.skipped);
    assert_eq!(small.serve(0, FileRequest::Range { offset: 0, len: 5 }), Ok(FileData::Bytes(b"small".to_vec())));
}
