use super::*;

/// A session's start removes the paste folders of processes that are gone (and of the
/// layout without a process id), and keeps this process's and a running one's.
#[test]
fn stale_pastes_of_gone_processes_are_removed() {
    let base = tempfile::tempdir().unwrap();
    // Process ids past the kernel's pid_max (at most 2^22) run nowhere.
    let names = [format!("{}-1", std::process::id()), "1-3".into(), "4999999-2".into(), "7".into()];
    for name in &names {
        std::fs::create_dir_all(base.path().join(name).join("1/folder")).unwrap();
        std::fs::write(base.path().join(name).join("1/folder/f"), b"x").unwrap();
    }
    clean_stale(base.path());
    let mut left: Vec<String> = std::fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut expected = vec![names[0].clone(), names[1].clone()];
    expected.sort();
    assert_eq!(left, expected);
}
