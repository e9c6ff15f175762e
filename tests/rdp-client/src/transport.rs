//! The byte streams a test client can connect over: TCP, Unix sockets and AF_VSOCK.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{bail, Context as _, Result};
use tokio::io::{AsyncRead, AsyncWrite};

/// Any connected byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static> Stream for T {}

pub type BoxStream = Box<dyn Stream>;

/// Where to connect, parsed from the server's own spelling (`RdpHandle::listening`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `tcp:HOST:PORT`, or a bare `HOST:PORT`.
    Tcp(String),
    /// `unix:PATH`.
    Unix(std::path::PathBuf),
    /// `vsock:CID:PORT`.
    Vsock { cid: u32, port: u32 },
}

impl Target {
    pub fn parse(addr: &str) -> Result<Target> {
        if let Some(path) = addr.strip_prefix("unix:") {
            if path.is_empty() {
                bail!("empty Unix socket path in {addr:?}");
            }
            return Ok(Target::Unix(path.into()));
        }
        if let Some(rest) = addr.strip_prefix("vsock:") {
            let (cid, port) = rest.split_once(':').with_context(|| format!("expected vsock:CID:PORT, got {addr:?}"))?;
            return Ok(Target::Vsock {
                cid: cid.parse().with_context(|| format!("bad vsock CID in {addr:?}"))?,
                port: port.parse().with_context(|| format!("bad vsock port in {addr:?}"))?,
            });
        }
        let hostport = addr.strip_prefix("tcp:").unwrap_or(addr);
        if hostport.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
            bail!("expected tcp:HOST:PORT, unix:PATH or vsock:CID:PORT, got {addr:?}");
        }
        Ok(Target::Tcp(hostport.to_string()))
    }
}

/// Opens a plain (not yet TLS) stream to `addr`. The socket address returned is what the
/// client reports as its own address in the connection sequence (a placeholder for Unix
/// sockets and vsock, which have none).
pub async fn connect_stream(addr: &str) -> Result<(BoxStream, SocketAddr)> {
    let placeholder = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    match Target::parse(addr)? {
        Target::Tcp(hostport) => {
            let stream =
                tokio::net::TcpStream::connect(&hostport).await.with_context(|| format!("connecting to {addr}"))?;
            stream.set_nodelay(true)?;
            let local = stream.local_addr().unwrap_or(placeholder);
            Ok((Box::new(stream), local))
        }
        Target::Unix(path) => {
            let stream =
                tokio::net::UnixStream::connect(&path).await.with_context(|| format!("connecting to {addr}"))?;
            Ok((Box::new(stream), placeholder))
        }
        Target::Vsock { cid, port } => {
            let stream = tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(cid, port))
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            Ok((Box::new(stream), placeholder))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(Target::parse("tcp:127.0.0.1:3389").unwrap(), Target::Tcp("127.0.0.1:3389".into()));
        assert_eq!(Target::parse("127.0.0.1:5").unwrap(), Target::Tcp("127.0.0.1:5".into()));
        assert_eq!(Target::parse("tcp:[::1]:5").unwrap(), Target::Tcp("[::1]:5".into()));
        assert_eq!(Target::parse("unix:/tmp/x").unwrap(), Target::Unix("/tmp/x".into()));
        assert_eq!(Target::parse("vsock:1:99").unwrap(), Target::Vsock { cid: 1, port: 99 });
        for bad in ["", "unix:", "vsock:1", "tcp:host", "tcp::5", "tcp:h:70000"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
