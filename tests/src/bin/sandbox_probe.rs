//! `wr-sandbox-probe`: lists the globals a client sees when it connects directly, then opens a
//! wp_security_context_v1 listener (as Flatpak does), connects through it and lists the globals
//! the sandboxed connection sees. Prints one JSON line
//! `{"direct": [[interface, version], ...], "sandboxed": [...]}` and keeps the sandboxed
//! connection open until stdin closes, so the test can look at it from the compositor side.

use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use anyhow::{bail, Context};
use wayrail_testclient::wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayrail_testclient::wayland_client::protocol::wl_registry::WlRegistry;
use wayrail_testclient::wayland_client::{delegate_noop, Connection, Dispatch, QueueHandle};
use wayrail_testclient::wayland_protocols::wp::security_context::v1::client::wp_security_context_manager_v1::WpSecurityContextManagerV1;
use wayrail_testclient::wayland_protocols::wp::security_context::v1::client::wp_security_context_v1::WpSecurityContextV1;

struct Probe;

impl Dispatch<WlRegistry, GlobalListContents> for Probe {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: <WlRegistry as wayrail_testclient::wayland_client::Proxy>::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(Probe: WpSecurityContextManagerV1);
delegate_noop!(Probe: WpSecurityContextV1);

fn globals_of(conn: &Connection) -> anyhow::Result<Vec<(String, u32)>> {
    let (globals, mut queue) = registry_queue_init::<Probe>(conn).context("registry")?;
    queue.roundtrip(&mut Probe).context("roundtrip")?;
    let mut list: Vec<(String, u32)> =
        globals.contents().clone_list().into_iter().map(|g| (g.interface, g.version)).collect();
    list.sort();
    Ok(list)
}

fn main() -> anyhow::Result<()> {
    let conn = Connection::connect_to_env().context("connecting to WAYLAND_DISPLAY")?;
    let (globals, mut queue) = registry_queue_init::<Probe>(&conn).context("registry")?;
    let qh = queue.handle();
    let mut direct: Vec<(String, u32)> =
        globals.contents().clone_list().into_iter().map(|g| (g.interface, g.version)).collect();
    direct.sort();
    let manager: WpSecurityContextManagerV1 =
        globals.bind(&qh, 1..=1, ()).context("binding wp_security_context_manager_v1")?;

    let runtime = std::env::var_os("XDG_RUNTIME_DIR").context("XDG_RUNTIME_DIR")?;
    let path = PathBuf::from(runtime).join(format!("sandbox-probe-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two new descriptors, which we own from here on.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are not owned elsewhere.
    let (close_read, close_write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let context = manager.create_listener(listener.as_fd(), close_read.as_fd(), &qh, ());
    context.set_sandbox_engine("org.wayrail.e2e".into());
    context.set_app_id("org.wayrail.e2e.probe".into());
    context.set_instance_id(format!("probe-{}", std::process::id()));
    context.commit();
    queue.roundtrip(&mut Probe).context("creating the security context")?;
    // The compositor has the listening socket and the close fd now.
    drop(close_read);

    let sandboxed_conn = Connection::from_socket(UnixStream::connect(&path).context("connecting to the listener")?)
        .context("sandboxed connection")?;
    let sandboxed = globals_of(&sandboxed_conn)?;

    let answer = serde_json::json!({ "direct": direct, "sandboxed": sandboxed });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{answer}")?;
    out.flush()?;
    drop(out);

    // Hold both connections until the test closes our stdin.
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop(close_write);
    drop(listener);
    let _ = std::fs::remove_file(&path);
    Ok(())
}
