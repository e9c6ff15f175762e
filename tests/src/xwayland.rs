//! Xwayland in the end-to-end tests: a compositor started with `--xwayland lazy|on`, its X11
//! display (from `msg --json version`), X clients on it, and the Xwayland process (wayrail's
//! child; killing wayrail's process group ends it too).

use std::process::Command;

use crate::{Client, Compositor};

impl Compositor {
    /// Starts a headless compositor with `--xwayland MODE` (`lazy` or `on`) and `extra_args`.
    pub fn start_xwayland(mode: &str, extra_args: &[&str]) -> Compositor {
        let mut args = vec!["--xwayland", mode];
        args.extend_from_slice(extra_args);
        Compositor::start(&args)
    }

    /// `DISPLAY` of this compositor (`":N"`), None when X11 is off.
    pub fn x11_display(&self) -> Option<String> {
        self.msg_json(&["version"])["x11_display"].as_str().map(str::to_string)
    }

    /// A command for an X client of this compositor: as [`Compositor::command`], with `DISPLAY`
    /// set and no Wayland display (so toolkits use X11).
    pub fn x11_command(&self, program: &str) -> Command {
        let display = self.x11_display().expect("the compositor has no X11 display");
        let mut cmd = self.command(program);
        cmd.env("DISPLAY", display).env_remove("WAYLAND_DISPLAY").env("GDK_BACKEND", "x11");
        cmd
    }

    /// Starts `program args` as an X client under a guard.
    pub fn spawn_x11_client(&self, program: &str, args: &[&str]) -> Client {
        let mut cmd = self.x11_command(program);
        cmd.args(args);
        self.spawn(program, cmd)
    }

    /// The pid of the Xwayland that is wayrail's child, if one runs.
    pub fn xwayland_pid(&self) -> Option<u32> {
        child_pids(self.pid())
            .into_iter()
            .find(|&pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "Xwayland"))
    }
}

/// Live (not zombie) children of a process, from /proc.
pub fn child_pids(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else { return false };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
            ppid == Some(parent) && state != Some("Z")
        })
        .collect()
}

/// The integer XSETTINGS of X display `display` (`":N"`): what the `_XSETTINGS_S0` owner holds
/// in `_XSETTINGS_SETTINGS`, as toolkits read it.
pub fn xsettings_integers(display: &str) -> anyhow::Result<std::collections::HashMap<String, i32>> {
    use anyhow::{bail, Context};
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _};

    let (conn, _) = x11rb::connect(Some(display)).with_context(|| format!("connecting to {display}"))?;
    let atom = |name: &str| -> anyhow::Result<u32> { Ok(conn.intern_atom(false, name.as_bytes())?.reply()?.atom) };
    let owner = conn.get_selection_owner(atom("_XSETTINGS_S0")?)?.reply()?.owner;
    if owner == x11rb::NONE {
        bail!("nobody owns _XSETTINGS_S0");
    }
    let prop = atom("_XSETTINGS_SETTINGS")?;
    let data = conn.get_property(false, owner, prop, AtomEnum::ANY, 0, 1 << 16)?.reply()?.value;
    let big = data.first() == Some(&1);
    let u16_at = |at: usize| -> anyhow::Result<u16> {
        let b: [u8; 2] = data.get(at..at + 2).context("short XSETTINGS")?.try_into()?;
        Ok(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| -> anyhow::Result<u32> {
        let b: [u8; 4] = data.get(at..at + 4).context("short XSETTINGS")?.try_into()?;
        Ok(if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let pad = |n: usize| n.div_ceil(4) * 4;
    let count = u32_at(8)?;
    let mut at = 12;
    let mut out = std::collections::HashMap::new();
    for _ in 0..count {
        let kind = *data.get(at).context("short XSETTINGS")?;
        let name_len = usize::from(u16_at(at + 2)?);
        let name = String::from_utf8_lossy(data.get(at + 4..at + 4 + name_len).context("short XSETTINGS")?);
        at += 4 + pad(name_len) + 4; // header, name, last-change serial
        match kind {
            0 => {
                out.insert(name.into_owned(), u32_at(at)? as i32);
                at += 4;
            }
            1 => at += 4 + pad(u32_at(at)? as usize),
            2 => at += 8,
            other => bail!("XSETTINGS value type {other}"),
        }
    }
    Ok(out)
}
