//! Pools in a temporary folder: names, modes, sizes, copies, removal, and the sweep.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A `w` x `h` BGRA source whose every pixel says where it is.
fn source(w: u32, h: u32, stride: usize) -> Vec<u8> {
    let mut src = vec![0xEEu8; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let i = y * stride + x * 4;
            src[i..i + 4].copy_from_slice(&[x as u8, y as u8, 0x5A, 0xFF]);
        }
    }
    src
}

fn pixel(pool: &Pool, x: u32, y: u32) -> [u8; 4] {
    let i = (y * pool.stride() + x * 4) as usize;
    pool.bytes()[i..i + 4].try_into().unwrap()
}

#[test]
fn names_are_braced_uuids() {
    let a = new_section_name();
    assert_eq!(a.len(), 38);
    assert!(is_section_name(&a), "{a}");
    assert_ne!(a, new_section_name());
    assert!(!is_section_name("{not-a-uuid-at-all-but-38-characters!}"));
    assert!(!is_section_name(&a[1..37]));
    assert!(!is_section_name(&a.to_uppercase()), "only the form we make");
    assert!(is_staging_name(&staging_name(&a)));
    assert!(!is_staging_name(&a));
}

#[test]
fn a_pool_is_a_0600_file_of_whole_pages_named_by_its_section() {
    let d = dir();
    let pool = Pool::create(d.path(), 33, 7).unwrap();
    assert_eq!(pool.path(), d.path().join(pool.name()));
    assert!(is_section_name(pool.name()));
    let meta = std::fs::metadata(pool.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let page = page_size();
    assert_eq!(pool.size(), page, "33*7*4 bytes round up to one page");
    assert_eq!(meta.len(), pool.size());
    assert_eq!(pool.stride(), 33 * 4);
    assert!(pool.bytes().iter().all(|&b| b == 0));
    // Only the pool's file is there: the staging name is gone.
    let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from(pool.name())]);

    let exact = Pool::create(d.path(), (page / 4) as u32, 2).unwrap();
    assert_eq!(exact.size(), 2 * page, "already whole pages: no padding");
    assert_eq!(round_to_page(page + 1), 2 * page);
    assert_eq!(round_to_page(0), 0);
}

#[test]
fn sizes_out_of_range_are_refused() {
    let d = dir();
    for (w, h) in [(0, 1), (1, 0), (MAX_DIMENSION + 1, 1), (1, MAX_DIMENSION + 1)] {
        assert!(matches!(Pool::create(d.path(), w, h), Err(PoolError::Size { .. })), "{w}x{h}");
    }
    assert!(matches!(Pool::create(&d.path().join("missing"), 1, 1), Err(PoolError::Io { .. })));
}

#[test]
fn copies_only_the_rectangles_clipped() {
    let d = dir();
    let mut pool = Pool::create(d.path(), 10, 8).unwrap();
    let stride = 12 * 4; // wider rows than the pool's, as a client buffer may have
    let src = source(12, 8, stride);

    let n = pool.copy_rects(&src, stride, &[Rect::new(2, 1, 3, 2)]);
    assert_eq!(n, 3 * 2 * 4);
    for y in 0..8 {
        for x in 0..10 {
            let inside = (2..5).contains(&x) && (1..3).contains(&y);
            let want = if inside { [x as u8, y as u8, 0x5A, 0xFF] } else { [0; 4] };
            assert_eq!(pixel(&pool, x, y), want, "({x}, {y})");
        }
    }

    // Clipped at the pool's right and bottom edges.
    assert_eq!(pool.copy_rects(&src, stride, &[Rect::new(8, 6, 10, 10)]), 2 * 2 * 4);
    assert_eq!(pixel(&pool, 9, 7), [9, 7, 0x5A, 0xFF]);
    // Entirely outside, empty, or overflowing rectangles copy nothing and do not panic.
    let none = [Rect::new(10, 0, 5, 5), Rect::new(0, 8, 1, 1), Rect::new(3, 3, 0, 4), Rect::new(u32::MAX, 0, 9, 9)];
    assert_eq!(pool.copy_rects(&src, stride, &none), 0);
    // A source smaller than the pool: clipped to the source's rows and columns.
    let small = source(4, 3, 16);
    assert_eq!(pool.copy_rects(&small, 16, &[Rect::new(0, 0, 10, 8)]), 4 * 3 * 4);
    assert_eq!(pool.copy_rects(&[], 0, &[Rect::new(0, 0, 10, 8)]), 0);
    // Several rectangles add up.
    let mut fresh = Pool::create(d.path(), 10, 8).unwrap();
    assert_eq!(fresh.copy_rects(&src, stride, &[Rect::new(0, 0, 1, 1), Rect::new(9, 7, 1, 1)]), 8);
    assert_eq!(pixel(&fresh, 9, 7), [9, 7, 0x5A, 0xFF]);
    assert_eq!(pixel(&fresh, 5, 5), [0; 4]);
}

#[test]
fn the_file_holds_what_was_copied() {
    let d = dir();
    let mut pool = Pool::create(d.path(), 4, 4).unwrap();
    let src = source(4, 4, 16);
    pool.copy_rects(&src, 16, &[Rect::new(1, 1, 2, 2)]);
    let on_disk = std::fs::read(pool.path()).unwrap();
    assert_eq!(&on_disk[..64], &pool.bytes()[..64]);
    assert_eq!(&on_disk[16 + 4..16 + 8], &[1, 1, 0x5A, 0xFF]);
}

#[test]
fn dropping_a_pool_removes_its_file() {
    let d = dir();
    let pool = Pool::create(d.path(), 5, 5).unwrap();
    let path = pool.path().to_owned();
    assert!(path.exists());
    drop(pool);
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn sweep_removes_stale_pools_only() {
    let d = dir();
    let live = Pool::create(d.path(), 3, 3).unwrap();
    let stale = d.path().join(new_section_name());
    std::fs::write(&stale, b"left by a crash").unwrap();
    let stale_staging = d.path().join(staging_name(&new_section_name()));
    std::fs::write(&stale_staging, b"").unwrap();
    let foreign = d.path().join("notes.txt");
    std::fs::write(&foreign, b"not ours to remove").unwrap();
    let not_quite = d.path().join(format!("{}x", new_section_name()));
    std::fs::write(&not_quite, b"").unwrap();
    let folder = d.path().join(new_section_name());
    std::fs::create_dir(&folder).unwrap();
    let link = d.path().join(new_section_name());
    std::os::unix::fs::symlink(&foreign, &link).unwrap();

    let mut removed = sweep_stale(d.path()).unwrap();
    removed.sort();
    let mut want = vec![stale.clone(), stale_staging.clone()];
    want.sort();
    assert_eq!(removed, want);
    assert!(live.path().exists(), "a live pool stays");
    for kept in [&foreign, &not_quite, &folder, &link] {
        assert!(std::fs::symlink_metadata(kept).is_ok(), "{} stays", kept.display());
    }
    assert!(foreign.exists(), "the symlink's target stays");
    assert!(sweep_stale(d.path()).unwrap().is_empty(), "nothing more to remove");
    drop(live);
    assert_eq!(sweep_stale(d.path()).unwrap(), Vec::<PathBuf>::new());
}

/// The lock belongs to the open file, not the process: another process's sweep sees it too
/// (flock locks conflict between open file descriptions, even within one process).
#[test]
fn a_lock_from_another_open_file_keeps_a_pool() {
    let d = dir();
    let path = d.path().join(new_section_name());
    std::fs::write(&path, b"").unwrap();
    let holder = File::open(&path).unwrap();
    rustix::fs::flock(&holder, FlockOperation::LockShared).unwrap();
    assert!(sweep_stale(d.path()).unwrap().is_empty());
    drop(holder);
    assert_eq!(sweep_stale(d.path()).unwrap(), vec![path]);
}

#[test]
fn the_folder_comes_from_the_mount_then_the_config_then_the_runtime_dir() {
    let run = Path::new("/run/user/1000");
    let conf = Path::new("/srv/shm");
    assert_eq!(
        choose_dir(Some("/mnt/shared_memory".into()), Some(conf), Some(run)).unwrap(),
        Path::new("/mnt/shared_memory")
    );
    assert_eq!(choose_dir(Some("".into()), Some(conf), Some(run)).unwrap(), conf);
    assert_eq!(choose_dir(None, None, Some(run)).unwrap(), run.join("wayrail-shm"));
    assert_eq!(choose_dir(None, None, None), None);
}

#[test]
fn pool_dir_makes_the_configured_folder_private() {
    // Without the WSL variable (never set in tests), the configured folder is used and made.
    if std::env::var_os(MOUNT_POINT_VAR).is_some() {
        return;
    }
    let d = dir();
    let made = d.path().join("pools");
    assert_eq!(pool_dir(Some(&made)).unwrap(), made);
    assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(pool_dir(Some(&made)).unwrap(), made, "an existing folder of ours is fine");
    let file = d.path().join("file");
    std::fs::write(&file, b"").unwrap();
    assert!(matches!(pool_dir(Some(&file)), Err(PoolError::Folder { .. })));
}

#[test]
fn a_tile_lands_at_its_place_and_is_clipped_to_the_pool() {
    let d = dir();
    let mut pool = Pool::create(d.path(), 8, 6).unwrap();
    // A 3x2 tile of the source's pixels (0..3, 0..2), written at (2, 1).
    let tile = source(3, 2, 12);
    assert_eq!(pool.write_rect(Rect::new(2, 1, 3, 2), &tile, 12), 3 * 2 * 4);
    assert_eq!(pixel(&pool, 2, 1), [0, 0, 0x5A, 0xFF]);
    assert_eq!(pixel(&pool, 4, 2), [2, 1, 0x5A, 0xFF]);
    assert_eq!(pixel(&pool, 1, 1), [0; 4], "left of the tile");
    assert_eq!(pixel(&pool, 5, 2), [0; 4], "right of the tile");
    // Past the right and bottom edges only what fits is written.
    let big = source(4, 4, 16);
    assert_eq!(pool.write_rect(Rect::new(6, 4, 4, 4), &big, 16), 2 * 2 * 4);
    assert_eq!(pixel(&pool, 7, 5), [1, 1, 0x5A, 0xFF]);
    // A tile that claims more rows than it holds writes the rows it has.
    assert_eq!(pool.write_rect(Rect::new(0, 0, 2, 5), &tile[..12], 12), 2 * 4);
    assert_eq!(pool.write_rect(Rect::new(9, 0, 2, 2), &tile, 12), 0, "outside");
}
