//! Launching what a RemoteApp client asks for, when the Exec policy lets it (see
//! [`wayrail_rail::exec::decide`]). Programs inherit wayrail's environment (WAYLAND_DISPLAY,
//! XDG_RUNTIME_DIR, DISPLAY, WAYRAIL_SOCKET), so they show up as windows.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use freedesktop_desktop_entry::DesktopEntry;
use wayrail_rail::channel::ExecFailure;
use wayrail_rail::exec::{ExecPolicy, RateLimit, Refusal};

use crate::SessionId;

/// One session's Execs: the policy, the session's own rate limit, and the folders whose
/// desktop entries the policy allows (the app list's: what the host lists, it may start).
pub(crate) struct ExecGate {
    policy: ExecPolicy,
    data_dirs: Option<Vec<PathBuf>>,
    rate: RateLimit,
}

impl ExecGate {
    /// `data_dirs`: `[applist] data_dirs`, in place of `$XDG_DATA_DIRS` (see
    /// [`wayrail_applist::entries::application_dirs`]).
    pub fn new(policy: ExecPolicy, data_dirs: Option<Vec<PathBuf>>) -> ExecGate {
        ExecGate { policy, data_dirs, rate: RateLimit::default() }
    }

    /// Runs the program if the session may: a RemoteApp one, within its rate limit, and
    /// inside the policy. A refusal is logged and nothing runs.
    pub fn exec(
        &mut self,
        session: SessionId,
        remote_app: bool,
        executable: &str,
        working_directory: &str,
        arguments: &str,
    ) -> Result<(), ExecFailure> {
        let (program, args) = match wayrail_rail::exec::command_line(executable, arguments) {
            Ok(c) => c,
            Err(why) => {
                tracing::warn!(session, %executable, %arguments, "cannot run: {why}");
                return Err(ExecFailure::Failed(1));
            }
        };
        let allowed = wayrail_rail::exec::decide(
            remote_app,
            &mut self.rate,
            Instant::now(),
            &self.policy,
            &program,
            || programs_in(wayrail_applist::entries::application_dirs(self.data_dirs.as_deref())),
            locate,
        );
        if let Err(refusal) = allowed {
            tracing::warn!(session, %program, ?args, "Exec refused: {refusal}");
            return Err(match refusal {
                Refusal::NotAllowed | Refusal::RelativePath => ExecFailure::NotInAllowlist,
                Refusal::NotRemoteApp => ExecFailure::Failed(libc::EPERM as u32),
                Refusal::TooFrequent => ExecFailure::Failed(libc::EAGAIN as u32),
            });
        }
        launch(&program, &args, working_directory)
    }
}

fn launch(program: &str, args: &[String], working_directory: &str) -> Result<(), ExecFailure> {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    // Apps leave wayrail's session and controlling terminal: a signal to wayrail's session
    // (a closed terminal, a supervisor stopping it) is not theirs.
    // SAFETY: only setsid(2), which is async-signal-safe, runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::setsid();
            Ok(())
        });
    }
    // The requested directory when it exists here, else the home directory.
    let dir = working_directory.trim();
    if !dir.is_empty() && Path::new(dir).is_dir() {
        command.current_dir(dir);
    } else if let Some(home) = std::env::var_os("HOME").filter(|h| Path::new(h).is_dir()) {
        command.current_dir(home);
    }
    match command.spawn() {
        Ok(mut child) => {
            tracing::info!(%program, ?args, pid = child.id(), "launched for the host");
            // Reaped when it exits, so no zombies pile up.
            let _ = std::thread::Builder::new().name("wayrail-reaper".into()).spawn(move || {
                let _ = child.wait();
            });
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(%program, "cannot run: not found");
            Err(ExecFailure::NotFound)
        }
        Err(err) => {
            tracing::warn!(%program, "cannot run: {err}");
            Err(ExecFailure::Failed(err.raw_os_error().unwrap_or(1) as u32))
        }
    }
}

/// The programs the desktop entries in `dirs` let the host start (see
/// [`wayrail_rail::exec::entry_programs`]). An entry hides the ones of the same id in later
/// directories; a `Hidden` one, or one that is no application, lets nothing in.
pub fn programs_in(dirs: Vec<PathBuf>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for path in freedesktop_desktop_entry::Iter::new(dirs.into_iter()) {
        let Ok(entry) = DesktopEntry::from_path(&path, None::<&[&str]>) else {
            tracing::debug!(path = %path.display(), "unreadable desktop entry skipped");
            continue;
        };
        if !seen.insert(entry.id().to_string())
            || entry.hidden()
            || !matches!(entry.type_(), Some("Application") | None)
        {
            continue;
        }
        let exec = entry.parse_exec().unwrap_or_default();
        out.extend(wayrail_rail::exec::entry_programs(&exec, entry.try_exec()));
    }
    out
}

/// The file `program` starts: a bare name is looked up on PATH (as the spawn does), an
/// absolute path is taken as it is. The directory is resolved (`/bin` may be `/usr/bin`),
/// the file name is kept: a multi-call binary tells what to be by the name it is run as.
pub fn locate(program: &str) -> Option<PathBuf> {
    let path = if program.contains('/') {
        Path::new(program).is_absolute().then(|| PathBuf::from(program))?
    } else {
        let search = std::env::var_os("PATH")?;
        std::env::split_paths(&search)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))?
    };
    let full = path.parent()?.canonicalize().ok()?.join(path.file_name()?);
    is_executable(&full).then_some(full)
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn desktop_entries_give_their_programs() {
        let dir = tempfile::tempdir().unwrap();
        let (user, system) = (dir.path().join("user"), dir.path().join("system"));
        write(&system.join("foot.desktop"), "[Desktop Entry]\nType=Application\nName=Foot\nExec=foot %U\n");
        write(
            &system.join("xterm.desktop"),
            "[Desktop Entry]\nType=Application\nName=XTerm\nExec=\"/usr/bin/xterm\" -ls\nTryExec=xterm\n",
        );
        write(&system.join("vendor/app.desktop"), "[Desktop Entry]\nType=Application\nName=A\nExec=env A=1 app\n");
        write(&system.join("hidden.desktop"), "[Desktop Entry]\nType=Application\nName=H\nExec=gone\n");
        write(&system.join("link.desktop"), "[Desktop Entry]\nType=Link\nName=L\nExec=link\nURL=x\n");
        write(&system.join("broken.desktop"), "no group at all\nExec=broken\n");
        write(&system.join("notes.txt"), "[Desktop Entry]\nExec=text\n");
        // The user's entry of the same id hides the system's.
        write(&user.join("hidden.desktop"), "[Desktop Entry]\nType=Application\nName=H\nExec=gone\nHidden=true\n");
        let mut programs = programs_in(vec![user, system, dir.path().join("missing")]);
        programs.sort();
        assert_eq!(programs, vec!["/usr/bin/xterm", "app", "foot", "xterm"]);
    }

    #[test]
    fn programs_are_located_by_name_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        write(&bin.join("tool"), "#!/bin/sh\n");
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        write(&bin.join("data"), "not a program");
        std::os::unix::fs::symlink(bin.join("tool"), bin.join("alias")).unwrap();
        std::os::unix::fs::symlink(&bin, dir.path().join("linked-bin")).unwrap();
        let tool = bin.canonicalize().unwrap().join("tool");
        assert_eq!(locate(tool.to_str().unwrap()), Some(tool.clone()));
        // The directory is resolved, the file's own name kept.
        assert_eq!(locate(dir.path().join("linked-bin/tool").to_str().unwrap()), Some(tool.clone()));
        assert_eq!(locate(bin.join("alias").to_str().unwrap()), Some(bin.canonicalize().unwrap().join("alias")));
        assert_eq!(locate(bin.join("data").to_str().unwrap()), None);
        assert_eq!(locate(bin.join("missing").to_str().unwrap()), None);
        assert_eq!(locate("bin/tool"), None);
        // A bare name is found on PATH (this process's; `sh` is on every PATH).
        let sh = locate("sh").expect("sh on PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
        assert_eq!(locate("wayrail-test-no-such-program"), None);
    }
}
