//! Where a remoting server listens for hosts, as users write it (`--listen`, `[rdp] listen`).

use std::fmt;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(String),
    Unix(PathBuf),
    Vsock {
        cid: u32,
        port: u32,
    },
    /// A listening socket inherited from a supervisor (TCP or Unix).
    Fd(RawFd),
}

impl Default for ListenAddr {
    fn default() -> Self {
        ListenAddr::Tcp("127.0.0.1:3389".into())
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "tcp:{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            ListenAddr::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
            ListenAddr::Fd(fd) => write!(f, "fd:{fd}"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bad listen address {0:?}: expected tcp:HOST:PORT, unix:PATH, vsock:CID:PORT or fd:N")]
pub struct ListenAddrError(String);

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ListenAddrError(s.to_string());
        let (kind, rest) = s.split_once(':').ok_or_else(err)?;
        match kind {
            "tcp" => {
                let (host, port) = rest.rsplit_once(':').ok_or_else(err)?;
                port.parse::<u16>().map_err(|_| err())?;
                if host.is_empty() {
                    return Err(err());
                }
                Ok(ListenAddr::Tcp(rest.to_string()))
            }
            "unix" if !rest.is_empty() => Ok(ListenAddr::Unix(PathBuf::from(rest))),
            "vsock" => {
                let (cid, port) = rest.split_once(':').ok_or_else(err)?;
                let cid = match cid {
                    "any" => libc::VMADDR_CID_ANY,
                    "local" => 1,
                    c => c.parse().map_err(|_| err())?,
                };
                Ok(ListenAddr::Vsock { cid, port: port.parse().map_err(|_| err())? })
            }
            "fd" => Ok(ListenAddr::Fd(rest.parse::<RawFd>().ok().filter(|fd| *fd >= 0).ok_or_else(err)?)),
            _ => Err(err()),
        }
    }
}
