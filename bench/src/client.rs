//! The benchmark's Wayland client: one xdg toplevel with one mapped wl_shm buffer. Used in
//! process (both ends of a socket pair driven from this thread) and as the `idle-client`
//! process.

use wayrail_testclient::wayland_client::QueueHandle;
use wayrail_testclient::{delegate_client, Base, Client, ShmBuffer, Toplevel};

#[derive(Default)]
pub(crate) struct BenchClient {
    pub(crate) base: Base,
    /// Configures received (each acked on arrival).
    pub(crate) configures: u64,
    pub(crate) closed: bool,
}

impl Client for BenchClient {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }

    fn configured(&mut self, _shell: usize, _serial: u32) {
        self.configures += 1;
    }

    fn close_requested(&mut self, _shell: usize) {
        self.closed = true;
    }
}

delegate_client!(BenchClient);

/// An xdg toplevel with its buffer.
pub(crate) struct Window {
    pub(crate) toplevel: Toplevel,
    pub(crate) buffer: ShmBuffer,
}

impl Window {
    /// Creates the role objects and the buffer and commits; the caller waits for the configure.
    pub(crate) fn new(
        client: &mut BenchClient,
        qh: &QueueHandle<BenchClient>,
        title: &str,
        width: i32,
        height: i32,
    ) -> anyhow::Result<Self> {
        let buffer = ShmBuffer::new(client.base.shm()?, qh, width, height)?;
        let toplevel = client.base.create_titled_toplevel(qh, title, "wayrail-bench")?;
        Ok(Self { toplevel, buffer })
    }

    pub(crate) fn attach_and_commit(&self, damage: (i32, i32, i32, i32)) {
        let surface = &self.toplevel.surface;
        surface.attach(Some(&self.buffer.wl_buffer), 0, 0);
        surface.damage_buffer(damage.0, damage.1, damage.2, damage.3);
        surface.commit();
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        self.toplevel.xdg_toplevel.destroy();
        self.toplevel.xdg_surface.destroy();
        self.toplevel.surface.destroy();
        self.buffer.destroy();
    }
}

/// `wayrail-bench idle-client`: map, then block in dispatch (no timers, no redraws).
pub(crate) fn idle_client(title: &str, width: i32, height: i32) -> anyhow::Result<()> {
    let mut client = BenchClient::default();
    let (_conn, mut queue) = wayrail_testclient::connect(&mut client)?;
    let qh = queue.handle();
    let window = Window::new(&mut client, &qh, title, width, height)?;
    while client.configures == 0 {
        queue.blocking_dispatch(&mut client)?;
    }
    window.buffer.fill(0xff30_6090);
    window.attach_and_commit((0, 0, width, height));
    let mut seen = client.configures;
    while !client.closed {
        queue.blocking_dispatch(&mut client)?;
        if client.configures != seen {
            // Acked in the handler; a commit applies it (same content, no damage).
            seen = client.configures;
            window.toplevel.surface.commit();
        }
    }
    Ok(())
}
