//! `wr-bad-client MODE`: breaks the Wayland protocol on purpose and reports what the compositor
//! did about it.
//!
//! Modes:
//! - `shm-out-of-bounds`: a wl_shm buffer larger than its 4 KiB pool;
//! - `double-toplevel`: two xdg_toplevel roles for one xdg_surface.
//!
//! Prints `protocol error: INTERFACE CODE MESSAGE` and exits 0 when the compositor answered
//! with a protocol error; exits 2 when it did not (the compositor accepted the request), 1 on
//! any other failure.

use std::os::fd::AsFd;

use anyhow::{bail, Context};
use wayrail_testclient::wayland_client::protocol::wl_shm;
use wayrail_testclient::wayland_client::DispatchError;
use wayrail_testclient::{delegate_client, Base, Client};

#[derive(Default)]
struct Bad {
    base: Base,
}

impl Client for Bad {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }
}

delegate_client!(Bad);

fn main() {
    match run() {
        Ok(()) => {
            println!("no protocol error");
            std::process::exit(2);
        }
        Err(err) => {
            if let Some(DispatchError::Backend(wayrail_testclient::wayland_client::backend::WaylandError::Protocol(
                e,
            ))) = err.downcast_ref::<DispatchError>()
            {
                println!("protocol error: {} {} {}", e.object_interface, e.code, e.message);
                std::process::exit(0);
            }
            eprintln!("wr-bad-client: {err:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mode = std::env::args().nth(1).context("usage: wr-bad-client shm-out-of-bounds|double-toplevel")?;
    let mut bad = Bad::default();
    let (_conn, mut queue) = wayrail_testclient::connect(&mut bad)?;
    let qh = queue.handle();
    match mode.as_str() {
        "shm-out-of-bounds" => {
            let surface = bad.base.create_surface(&qh)?;
            let fd = wayrail_testclient::shm::memfd(4096)?;
            let pool = bad.base.shm()?.create_pool(fd.as_fd(), 4096, &qh, ());
            // 64x64 ARGB needs 16 KiB: the pool has 4.
            let buffer = pool.create_buffer(0, 64, 64, 256, wl_shm::Format::Argb8888, &qh, ());
            surface.attach(Some(&buffer), 0, 0);
            surface.commit();
        }
        "double-toplevel" => {
            let first = bad.base.create_toplevel(&qh)?;
            let _second = first.xdg_surface.get_toplevel(&qh, first.shell);
            first.surface.commit();
        }
        other => bail!("unknown mode {other:?}"),
    }
    // The error (if any) comes back before the answer to this round trip.
    queue.roundtrip(&mut bad)?;
    queue.roundtrip(&mut bad)?;
    Ok(())
}
