//! Every kind of listener carries a whole session.

use std::os::fd::IntoRawFd as _;

use anyhow::Result;

use crate::common::TestServer;

#[tokio::test(flavor = "current_thread")]
async fn unix_socket() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("rdp.sock");
    let listen = format!("unix:{}", path.display());
    let mut server = TestServer::start(&[&listen], None)?;
    assert_eq!(server.addr(), listen);
    let (client, _) = server.check_normal_client(&listen).await?;
    client.disconnect().await?;
    drop(server);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn tcp_and_unix_together() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let unix = format!("unix:{}", dir.path().join("rdp.sock").display());
    let mut server = TestServer::start(&["tcp:127.0.0.1:0", &unix], None)?;
    let tcp = server.handle.listening[0].clone();
    assert!(tcp.starts_with("tcp:127.0.0.1:") && !tcp.ends_with(":0"), "{tcp}");
    assert_eq!(server.handle.listening[1], unix);
    for addr in [&tcp, &unix] {
        let (client, session) = server.check_normal_client(addr).await?;
        server.end(client, session).await?;
    }
    Ok(())
}

/// A listening socket handed over as a descriptor, as a supervisor (systemd) would.
#[tokio::test(flavor = "current_thread")]
async fn inherited_listening_fd() -> Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // The server owns the descriptor from here on and closes it.
    let fd = listener.into_raw_fd();
    let mut server = TestServer::start(&[&format!("fd:{fd}")], None)?;
    assert_eq!(server.addr(), format!("tcp:127.0.0.1:{port}"));
    server.check_normal_client(&format!("tcp:127.0.0.1:{port}")).await?;
    Ok(())
}

fn is_vsock_unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT)
            | Some(libc::ENODEV)
            | Some(libc::EADDRNOTAVAIL)
            | Some(libc::ENETUNREACH)
            | Some(libc::EHOSTUNREACH)
            | Some(libc::ECONNRESET)
            | Some(libc::ENOTSUP)
            | Some(libc::EPROTONOSUPPORT)
    )
}

/// Skips a test the machine's kernel cannot run, saying why. Unlike a missing program, which
/// the set-up command installs (and whose absence fails CI), a kernel transport cannot be added
/// by it: containers and sandboxes (CI's among them) may have no vsock loopback and no way to
/// load `vsock_loopback`. `WAYRAIL_REQUIRE_VSOCK=1` turns the skip into a failure where the
/// module is known to be loaded.
fn skip_for_kernel(why: &str) -> Result<()> {
    if std::env::var("WAYRAIL_REQUIRE_VSOCK").is_ok_and(|v| v == "1") {
        anyhow::bail!("{why} (WAYRAIL_REQUIRE_VSOCK=1)");
    }
    println!("SKIPPED {why}");
    Ok(())
}

/// vsock loopback (VMADDR_CID_LOCAL): needs the kernel's vsock_loopback transport; skipped
/// with the reason when the kernel has none.
#[tokio::test(flavor = "current_thread")]
async fn vsock_loopback() -> Result<()> {
    // Bind a probe listener first: the server's own bind error is only text.
    let probe = match tokio_vsock::VsockListener::bind(tokio_vsock::VsockAddr::new(1, libc::VMADDR_PORT_ANY)) {
        Ok(l) => l,
        Err(e) if is_vsock_unsupported(&e) => {
            return skip_for_kernel(&format!("vsock_loopback: the kernel refuses to bind vsock:1:any ({e})"));
        }
        Err(e) => return Err(e.into()),
    };
    let port = probe.local_addr()?.port();
    // Connecting needs the loopback transport, which binding does not.
    match tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(1, port)).await {
        Ok(_) => {}
        Err(e) if is_vsock_unsupported(&e) => {
            return skip_for_kernel(&format!(
                "vsock_loopback: no vsock loopback transport (vsock_loopback module?): {e}"
            ));
        }
        Err(e) => return Err(e.into()),
    }
    drop(probe);

    let mut server = TestServer::start(&[&format!("vsock:1:{}", libc::VMADDR_PORT_ANY)], None)?;
    let addr = server.addr();
    assert!(addr.starts_with("vsock:1:"), "{addr}");
    let (client, _) = server.check_normal_client(&addr).await?;
    client.disconnect().await?;
    Ok(())
}
