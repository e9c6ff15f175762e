//! Desktop entries, as the Desktop Entry Specification says to find and filter them: every
//! `applications` folder of `$XDG_DATA_HOME` and `$XDG_DATA_DIRS` (and flatpak's and snap's
//! export folders when present), subfolders included; the desktop-file ID is the path below
//! the folder with `/` turned into `-`, and the first folder that has an ID wins (a user's
//! entry shadows the system's, a `Hidden` one removes it). Parsing is
//! `freedesktop-desktop-entry`'s (the crate the Exec policy uses too): localized keys, escapes
//! and the Exec field codes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use freedesktop_desktop_entry::DesktopEntry;

/// The `applications` folders, in order of precedence: `$XDG_DATA_HOME` (default
/// `~/.local/share`), each `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`) or the
/// configured `data_dirs` in its place, then flatpak's and snap's export folders when they exist
/// and are not listed yet.
pub fn application_dirs(data_dirs: Option<&[PathBuf]>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
    {
        dirs.push(home.join("applications"));
    }
    match data_dirs {
        Some(list) => dirs.extend(list.iter().map(|d| d.join("applications"))),
        None => {
            let data = std::env::var("XDG_DATA_DIRS")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
            dirs.extend(
                data.split(':').filter(|d| Path::new(d).is_absolute()).map(|d| Path::new(d).join("applications")),
            );
            let mut exports = vec![PathBuf::from("/var/lib/flatpak/exports/share/applications")];
            if let Some(home) = std::env::var_os("HOME") {
                exports.insert(0, PathBuf::from(home).join(".local/share/flatpak/exports/share/applications"));
            }
            exports.push(PathBuf::from("/var/lib/snapd/desktop/applications"));
            for e in exports {
                if e.is_dir() && !dirs.contains(&e) {
                    dirs.push(e);
                }
            }
        }
    }
    dirs
}

/// How entries are chosen and turned into launchable commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The desktop names `OnlyShowIn`/`NotShowIn` are matched against (wayrail's own).
    pub desktop_names: Vec<String>,
    /// A terminal to run `Terminal=true` entries in (its program and arguments, the entry's
    /// command appended); None skips them.
    pub terminal: Option<Vec<String>>,
    /// Locales for `Name`/`Comment`, most wanted first (`de_DE`, `de`).
    pub locales: Vec<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { desktop_names: vec!["wayrail".into()], terminal: None, locales: Vec::new() }
    }
}

/// The locales to look names up in for a client language like `de_DE` (or `de-DE`).
pub fn locales_for(language: &str) -> Vec<String> {
    let lang = language.trim().replace('-', "_");
    if lang.is_empty() {
        return Vec::new();
    }
    let mut out = vec![lang.clone()];
    if let Some((base, _)) = lang.split_once('_') {
        out.push(base.to_string());
    }
    out
}

/// An entry the host may list and launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The desktop-file ID without `.desktop` (`org.gnome.Maps`, `kde-konsole`).
    pub id: String,
    /// The localized `Name`.
    pub name: String,
    pub comment: Option<String>,
    /// The command line with field codes removed, quoted as wayrail's RAIL Exec splits it.
    pub exec: String,
    /// The program of the command (for matching windows to the entry), its file name only.
    pub program: String,
    /// `Path`, where it runs.
    pub working_dir: Option<String>,
    pub icon: Option<String>,
    pub wm_class: Option<String>,
    /// The file it came from.
    pub path: PathBuf,
}

/// Every entry of `dirs` (see [`application_dirs`]) that `rules` keep, by ID.
pub fn scan(dirs: &[PathBuf], rules: &Rules) -> Vec<App> {
    let mut seen: BTreeMap<String, Option<App>> = BTreeMap::new();
    for dir in dirs {
        let mut files = Vec::new();
        walk(dir, dir, 0, &mut files);
        for (id, path) in files {
            if seen.contains_key(&id) {
                continue;
            }
            let app = read_entry(&id, &path, rules);
            seen.insert(id, app);
        }
    }
    seen.into_values().flatten().collect()
}

/// Desktop files below `dir`, with their IDs; at most a few folders deep (links may loop).
fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if depth < 4 {
                walk(root, &path, depth + 1, out);
            }
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("desktop") || !path.is_file() {
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else { continue };
        let Some(rel) = rel.to_str() else { continue };
        let id = rel.trim_end_matches(".desktop").replace('/', "-");
        out.push((id, path));
    }
}

/// The entry at `path` as an app, or None when the rules leave it out (an entry that is
/// there but left out still shadows the ones of the same ID after it).
fn read_entry(id: &str, path: &Path, rules: &Rules) -> Option<App> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut entry = match DesktopEntry::from_str(path, &text, Some(&rules.locales)) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(path = %path.display(), "desktop entry skipped: {e}");
            return None;
        }
    };
    // `%i` is two arguments, `--icon` and the icon, or none without an icon (the parser
    // makes it the icon alone). Field codes stand as words of their own, never in quotes.
    if let Some(exec) = entry.exec().filter(|e| e.split(' ').any(|w| w == "%i")) {
        let with = if entry.icon().is_some_and(|i| !i.is_empty()) { "--icon %i" } else { "" };
        let exec = exec.split(' ').map(|w| if w == "%i" { with } else { w }).collect::<Vec<_>>().join(" ");
        entry.add_desktop_entry("Exec".into(), exec);
    }
    entry_to_app(id, path, &entry, rules)
}

fn entry_to_app(id: &str, path: &Path, entry: &DesktopEntry, rules: &Rules) -> Option<App> {
    if entry.type_() != Some("Application") || entry.hidden() || entry.no_display() {
        return None;
    }
    let ours = |list: Vec<&str>| list.iter().any(|d| rules.desktop_names.iter().any(|n| n.eq_ignore_ascii_case(d)));
    if entry.only_show_in().is_some_and(|l| !ours(l)) || entry.not_show_in().is_some_and(ours) {
        return None;
    }
    if let Some(try_exec) = entry.try_exec() {
        if !installed(try_exec) {
            return None;
        }
    }
    let mut args = entry.parse_exec().ok()?;
    if entry.terminal() {
        let mut command = rules.terminal.clone()?;
        command.append(&mut args);
        args = command;
    }
    let program = Path::new(&args[0]).file_name()?.to_str()?.to_string();
    let name = entry.name(&rules.locales)?.trim().to_string();
    if name.is_empty() {
        return None;
    }
    Some(App {
        id: id.to_string(),
        name,
        comment: entry.comment(&rules.locales).map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
        exec: join_command(&args),
        program,
        working_dir: entry.path().map(str::to_string).filter(|p| !p.is_empty()),
        icon: entry.icon().map(str::to_string).filter(|i| !i.is_empty()),
        wm_class: entry.startup_wm_class().map(str::to_string),
        path: path.to_path_buf(),
    })
}

/// Whether a TryExec program is there: an absolute path, or a name on PATH, executable.
fn installed(program: &str) -> bool {
    let executable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        return Path::new(program).is_absolute() && executable(Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).filter(|d| d.is_absolute()).any(|d| executable(&d.join(program))))
}

/// Arguments as one command line that `wayrail_rail::exec::split_arguments` splits back:
/// words with spaces, quotes or backslashes go in double quotes, `"` and `\` escaped.
pub fn join_command(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && !a.chars().any(|c| c.is_whitespace() || "\"'\\".contains(c)) {
                a.clone()
            } else {
                let mut q = String::from("\"");
                for c in a.chars() {
                    if c == '"' || c == '\\' {
                        q.push('\\');
                    }
                    q.push(c);
                }
                q.push('"');
                q
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a window's app id belongs to `app`: the desktop-file ID, the entry's
/// StartupWMClass or its program's name (case aside; a reverse-DNS ID's last part too).
pub fn window_matches(app: &App, app_id: &str) -> bool {
    let app_id = app_id.trim();
    if app_id.is_empty() {
        return false;
    }
    let eq = |s: &str| s.eq_ignore_ascii_case(app_id);
    eq(&app.id)
        || app.wm_class.as_deref().is_some_and(eq)
        || eq(&app.program)
        || app.id.rsplit_once('.').is_some_and(|(_, last)| eq(last) && app.id.contains('.'))
}

/// The Icon= of a desktop file; with `wm_class`, only if its StartupWMClass matches.
pub fn desktop_icon(path: &Path, wm_class: Option<&str>) -> Option<String> {
    if path.extension().and_then(|e| e.to_str()) != Some("desktop") {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    desktop_text_icon(&text, wm_class)
}

/// The Icon= of a desktop file's text; with `wm_class`, only if its StartupWMClass matches.
pub fn desktop_text_icon(text: &str, wm_class: Option<&str>) -> Option<String> {
    let mut in_entry = false;
    let (mut icon, mut class) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_entry = line == "[Desktop Entry]";
            continue;
        }
        if !in_entry {
            continue;
        }
        if let Some(v) = line.strip_prefix("Icon=") {
            icon = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("StartupWMClass=") {
            class = Some(v.trim().to_string());
        }
    }
    match wm_class {
        Some(want) if class.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(want)) => icon,
        Some(_) => None,
        None => icon,
    }
}

/// The Icon= of the desktop entry for an app id in `dirs`: `<app_id>.desktop`, or one whose
/// StartupWMClass is the app id.
pub fn icon_for_app_id(dirs: &[PathBuf], app_id: &str) -> Option<String> {
    if app_id.is_empty() || app_id.contains('/') {
        return None;
    }
    dirs.iter().find_map(|dir| {
        if let Some(icon) = desktop_icon(&dir.join(format!("{app_id}.desktop")), None) {
            return Some(icon);
        }
        let entries = std::fs::read_dir(dir).ok()?;
        entries.filter_map(|e| e.ok()).find_map(|e| desktop_icon(&e.path(), Some(app_id)))
    })
}

#[cfg(test)]
#[path = "entries_tests.rs"]
mod tests;
