//! The list, kept current: a thread that reads the desktop entries in the host's language,
//! renders their icons, and reads them again when a file in one of the folders changes
//! (inotify through `notify`, debounced), handing each new list to a sink.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher as _};

use crate::channel::Listed;
use crate::codec::IconData;
use crate::entries::{self, Rules};
use crate::icons::{self, Lookup};
use crate::AppListConfig;

/// How long the folders must be quiet before they are read again (editors write a file in
/// several steps), and the longest a change waits while they are not.
const QUIET: Duration = Duration::from_millis(200);
const MAX_WAIT: Duration = Duration::from_millis(1000);

enum Msg {
    Language(String),
    Changed,
}

/// The scanning thread; it stops when this is dropped or its sink refuses a list.
pub struct Scanner {
    tx: mpsc::Sender<Msg>,
    stop: Arc<AtomicBool>,
}

impl Scanner {
    /// Starts the thread; it reads nothing before [`Scanner::set_language`]. `sink` returns
    /// false once nobody wants lists any more.
    pub fn spawn(config: AppListConfig, sink: Box<dyn FnMut(Vec<Listed>) -> bool + Send>) -> std::io::Result<Scanner> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_tx, thread_stop) = (tx.clone(), stop.clone());
        std::thread::Builder::new()
            .name("wayrail-applist".into())
            .spawn(move || run(config, sink, rx, thread_tx, thread_stop))?;
        Ok(Scanner { tx, stop })
    }

    /// The host's language: the list is read (again) in it.
    pub fn set_language(&self, language: &str) {
        let _ = self.tx.send(Msg::Language(language.to_string()));
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(
    config: AppListConfig,
    mut sink: Box<dyn FnMut(Vec<Listed>) -> bool + Send>,
    rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    stop: Arc<AtomicBool>,
) {
    let dirs = entries::application_dirs(config.data_dirs.as_deref());
    let mut watcher = match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.send(Msg::Changed);
        }
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("app list: cannot watch the application folders ({e}); the list will not follow changes");
            None
        }
    };
    let mut watched: HashMap<PathBuf, RecursiveMode> = HashMap::new();
    let mut icons = IconCache::default();
    let mut language: Option<String> = None;
    let mut pending = false;
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Msg::Language(l)) => {
                language = Some(l);
                pending = true;
            }
            Ok(Msg::Changed) => {
                // Wait for the folders to be quiet (but not for ever).
                let started = Instant::now();
                while started.elapsed() < MAX_WAIT {
                    match rx.recv_timeout(QUIET) {
                        Ok(Msg::Changed) => {}
                        Ok(Msg::Language(l)) => language = Some(l),
                        Err(_) => break,
                    }
                }
                pending = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let Some(lang) = language.as_deref().filter(|_| pending) else { continue };
        pending = false;
        if let Some(w) = watcher.as_mut() {
            watch_folders(w, &dirs, &mut watched);
        }
        let started = Instant::now();
        let list = read_list(&config, &dirs, lang, &mut icons);
        tracing::debug!(entries = list.len(), took = ?started.elapsed(), "app list read");
        if stop.load(Ordering::Relaxed) || !sink(list) {
            return;
        }
    }
}

/// Watches every application folder that exists (with its subfolders) and, for one that
/// does not yet, the nearest folder above it that does, so that its creation is seen.
fn watch_folders(
    watcher: &mut notify::RecommendedWatcher,
    dirs: &[PathBuf],
    watched: &mut HashMap<PathBuf, RecursiveMode>,
) {
    for dir in dirs {
        let (path, mode) = if dir.is_dir() {
            (dir.clone(), RecursiveMode::Recursive)
        } else {
            match dir.ancestors().skip(1).find(|a| a.is_dir()) {
                Some(a) => (a.to_path_buf(), RecursiveMode::NonRecursive),
                None => continue,
            }
        };
        if watched.get(&path) == Some(&mode) || watched.get(&path) == Some(&RecursiveMode::Recursive) {
            continue;
        }
        match watcher.watch(&path, mode) {
            Ok(()) => {
                watched.insert(path, mode);
            }
            Err(e) => tracing::debug!(path = %path.display(), "app list: not watched: {e}"),
        }
    }
}

/// The entries of `dirs` with their icons, in `language`.
pub fn read_list(config: &AppListConfig, dirs: &[PathBuf], language: &str, icons: &mut IconCache) -> Vec<Listed> {
    let rules = Rules {
        desktop_names: config.desktop_names.clone(),
        terminal: config.terminal.clone(),
        locales: entries::locales_for(language),
    };
    let lookup = Lookup { theme: config.icon_theme.clone(), svg: true, data_dirs: config.data_dirs.clone() };
    let size = config.icon_size.clamp(16, 256);
    let mut used = HashSet::new();
    let list = entries::scan(dirs, &rules)
        .into_iter()
        .map(|app| {
            let icon = icons.get(app.icon.as_deref(), size, &lookup);
            used.insert(app.icon.clone());
            Listed { app, icon }
        })
        .collect();
    icons.keep(&used);
    list
}

/// Which file an icon was rendered from, and when that file was last changed.
type FileStamp = Option<(PathBuf, Option<SystemTime>)>;

/// Icons rendered before, by name, kept while their file is the same.
#[derive(Default)]
pub struct IconCache {
    by_name: HashMap<Option<String>, (FileStamp, IconData)>,
}

impl IconCache {
    /// The icon for `name` as a `size`×`size` bottom-up BGRA bitmap; the default icon when
    /// none is found or it cannot be read.
    pub fn get(&mut self, name: Option<&str>, size: u32, lookup: &Lookup) -> IconData {
        let file = name.and_then(|n| icons::find_icon_file(n, size, lookup));
        let stamp = file.as_ref().map(|f| (f.clone(), modified(f)));
        let key = name.map(str::to_string);
        if let Some((s, icon)) = self.by_name.get(&key) {
            if *s == stamp && icon.width == size {
                return icon.clone();
            }
        }
        let rgba = file.as_deref().and_then(|f| icons::load_icon(f, size)).unwrap_or_else(|| {
            if let Some(n) = name {
                tracing::debug!(icon = n, "app list: icon not found or unreadable; the default one");
            }
            icons::default_icon(size)
        });
        let icon = IconData::bgra_bottom_up(size, size, &icons::rgba_to_bgra(rgba));
        self.by_name.insert(key, (stamp, icon.clone()));
        icon
    }

    fn keep(&mut self, used: &HashSet<Option<String>>) {
        self.by_name.retain(|k, _| used.contains(k));
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_entry_reaches_the_sink_after_a_change() {
        let d = tempfile::tempdir().unwrap();
        let share = d.path().join("share");
        std::fs::create_dir_all(&share).unwrap();
        let config = AppListConfig { data_dirs: Some(vec![share.clone()]), ..AppListConfig::default() };
        let (tx, rx) = mpsc::channel();
        let scanner = Scanner::spawn(config, Box::new(move |list| tx.send(list).is_ok())).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "nothing before the language");
        scanner.set_language("en_US");
        let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(first.iter().all(|l| l.app.id != "wr-scan-test"));
        // The applications folder does not exist yet: its creation is seen too.
        let apps = share.join("applications");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::write(apps.join("wr-scan-test.desktop"), "[Desktop Entry]\nType=Application\nName=S\nExec=sh\n")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let list = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a new list");
            if let Some(l) = list.iter().find(|l| l.app.id == "wr-scan-test") {
                assert_eq!((l.icon.width, l.icon.height, l.icon.bits.len()), (32, 32, 32 * 32 * 4));
                break;
            }
        }
    }
}
