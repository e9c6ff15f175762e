//! Launching what a RemoteApp client asks for. Programs inherit wayrail's environment
//! (WAYLAND_DISPLAY, XDG_RUNTIME_DIR, DISPLAY, WAYRAIL_SOCKET), so they show up as windows.

use std::process::{Command, Stdio};

use wayrail_rail::channel::ExecFailure;

pub fn launch(executable: &str, working_directory: &str, arguments: &str) -> Result<(), ExecFailure> {
    let (program, args) = match wayrail_rail::exec::command_line(executable, arguments) {
        Ok(c) => c,
        Err(why) => {
            tracing::warn!(%executable, %arguments, "cannot run: {why}");
            return Err(ExecFailure::Failed(1));
        }
    };
    let mut command = Command::new(&program);
    command.args(&args).stdin(Stdio::null());
    // The requested directory when it exists here, else the home directory.
    let dir = working_directory.trim();
    if !dir.is_empty() && std::path::Path::new(dir).is_dir() {
        command.current_dir(dir);
    } else if let Some(home) = std::env::var_os("HOME").filter(|h| std::path::Path::new(h).is_dir()) {
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
