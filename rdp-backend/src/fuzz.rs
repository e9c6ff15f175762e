//! Entry points for wayrail's fuzz targets (the `fuzz/` crate): the private decoders of this
//! crate driven from bytes. Not an API.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::reassembly::{dvc_declared_length, ChunkScreen, MAX_REASSEMBLY};
use crate::session::{self, SessionSetup};

/// Static channel chunks through the reassembly screen, and each as a dynamic channel PDU.
/// The input is a list of `[channel: u8][length: u16 le][bytes]`.
pub fn reassembly(mut data: &[u8]) {
    let mut screen = ChunkScreen::default();
    let mut small = ChunkScreen::default();
    while let [channel, a, b, rest @ ..] = data {
        let len = (u16::from_le_bytes([*a, *b]) as usize).min(rest.len());
        let (chunk, next) = rest.split_at(len);
        let _ = screen.check(u16::from(*channel), chunk, MAX_REASSEMBLY);
        let _ = small.check(u16::from(*channel), chunk, 64);
        let _ = dvc_declared_length(chunk);
        data = next;
    }
}

/// A client's bytes (then the end of its stream) through the connection sequence up to the
/// login: connection request, negotiation, TLS.
pub struct PreAuth {
    tls: tokio_rustls::TlsAcceptor,
    tls_public_key: std::sync::Arc<[u8]>,
}

impl PreAuth {
    /// With a certificate made in (or read from) `state_dir`.
    pub fn new(state_dir: &std::path::Path) -> anyhow::Result<PreAuth> {
        let source = crate::tls::TlsSource::StateDir(state_dir.to_owned());
        let config = crate::tls::server_config(&source)?;
        let tls_public_key = crate::tls::public_key(&source)?.into();
        Ok(PreAuth { tls: tokio_rustls::TlsAcceptor::from(config), tls_public_key })
    }

    /// Returns what the server wrote back.
    pub fn run(&self, data: &[u8]) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a tokio runtime");
        let local = tokio::task::LocalSet::new();
        let reply = Rc::new(RefCell::new(Vec::new()));
        let sink = reply.clone();
        local.block_on(&runtime, async {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let (notes, _notes_rx) = tokio::sync::mpsc::unbounded_channel();
            let (host, _host_rx) = calloop::channel::channel();
            let (_pointer_tx, pointer) = tokio::sync::watch::channel(None);
            let (_cmds_tx, cmds) = tokio::sync::mpsc::channel(4);
            let (_stop_tx, stop) = tokio::sync::watch::channel(None);
            let setup = SessionSetup {
                id: 1,
                tls: self.tls.clone(),
                tls_public_key: self.tls_public_key.clone(),
                credentials: Some(crate::Credentials { username: None, password: "fuzz".into() }),
                backoff: Rc::new(RefCell::new(crate::auth::Backoff::default())),
                active: Rc::new(Cell::new(None)),
                default_size: (1024, 768),
                first_byte_timeout: Duration::from_secs(1),
                write_timeout: Duration::from_secs(1),
                stop,
                notes,
                host,
                pointer,
                exec: crate::ExecPolicy::default(),
                vail_dir: None,
                vail_pools: Default::default(),
                audio: None,
                applist: None,
                h264: crate::H264Mode::Auto,
            };
            let (mut read, mut write) = tokio::io::split(client);
            let input = data.to_vec();
            let feed = async move {
                let _ = write.write_all(&input).await;
                let _ = write.shutdown().await;
                // Held open until the session is done with it.
                std::future::pending::<()>().await;
            };
            let drain = async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = read.read(&mut buf).await {
                    sink.borrow_mut().extend_from_slice(&buf[..n]);
                }
            };
            // Until the session is over and all it wrote is read (its end closes the stream).
            let feed = tokio::task::spawn_local(feed);
            tokio::join!(session::run(Box::new(server), "fuzz:0".into(), setup, cmds), drain);
            feed.abort();
        });
        reply.take()
    }
}
