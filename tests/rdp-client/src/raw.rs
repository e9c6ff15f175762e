//! Hand-made byte streams for robustness tests: a connection that stops at a chosen stage of
//! the connection sequence and sends whatever bytes the test wants, and builders for the
//! framing layers (TPKT, X.224, MCS, virtual channel chunks) so a test can break exactly one.

use std::borrow::Cow;
use std::time::Duration;

use anyhow::{Context as _, Result};
use ironrdp_dvc::pdu::{DataFirstPdu, DataPdu, DrdynvcClientPdu, DrdynvcDataPdu};
use ironrdp_pdu::mcs::{McsMessage, SendDataRequest};
use ironrdp_pdu::nego::{ConnectionRequest, NegoRequestData, RequestFlags, SecurityProtocol};
use ironrdp_pdu::rdp::vc::{ChannelControlFlags, ChannelPduHeader};
use ironrdp_pdu::x224::X224;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::transport::{connect_stream, BoxStream};
use crate::ClientOptions;

/// A connection the test drives byte by byte.
pub struct RawConnection {
    stream: BoxStream,
}

impl RawConnection {
    /// A plain stream, before any RDP.
    pub async fn open(addr: &str) -> Result<RawConnection> {
        let (stream, _) = connect_stream(addr).await?;
        Ok(RawConnection { stream })
    }

    /// A stream past the X.224 negotiation (TLS chosen) and the TLS handshake: the next bytes
    /// the server expects are the MCS Connect Initial.
    pub async fn open_tls(addr: &str, opts: &ClientOptions) -> Result<RawConnection> {
        let (stream, client_addr) = connect_stream(addr).await?;
        let mut framed = ironrdp_tokio::TokioFramed::new(stream);
        let mut connector = ironrdp_connector::ClientConnector::new(crate::config::connector_config(opts), client_addr);
        ironrdp_async::connect_begin(&mut framed, &mut connector).await.context("X.224 negotiation")?;
        let tls = crate::tls::upgrade(framed.into_inner_no_leftover()).await?;
        Ok(RawConnection { stream: Box::new(tls) })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Closes our sending side (the server sees EOF) but keeps reading.
    pub async fn shutdown_write(&mut self) -> Result<()> {
        self.stream.shutdown().await?;
        Ok(())
    }

    /// Reads until the server closes the connection; returns what it sent meanwhile. Fails
    /// when the connection is still open after `timeout`. A reset counts as closed.
    pub async fn wait_closed(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        let mut received = Vec::new();
        let read_all = async {
            let mut buf = [0u8; 4096];
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) => return,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                    Err(_) => return,
                }
            }
        };
        tokio::time::timeout(timeout, read_all)
            .await
            .map_err(|_| anyhow::anyhow!("the server kept the connection open for {timeout:?}"))?;
        Ok(received)
    }
}

/// A TPKT packet around `payload` (version 3, length including the 4-byte header).
pub fn tpkt(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 4).expect("TPKT payload too large");
    let mut out = vec![3, 0];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A well-formed X.224 Connection Request asking for TLS, as a client's first bytes.
pub fn x224_connection_request(username: &str) -> Vec<u8> {
    let request = ConnectionRequest {
        nego_data: (!username.is_empty()).then(|| NegoRequestData::cookie(username.to_string())),
        flags: RequestFlags::empty(),
        protocol: SecurityProtocol::SSL,
        correlation_info: None,
    };
    ironrdp_core::encode_vec(&X224(request)).expect("encoding a Connection Request")
}

/// An MCS Send Data Request (a slow-path PDU) carrying `user_data` on `channel_id`.
pub fn mcs_send_data(initiator_id: u16, channel_id: u16, user_data: &[u8]) -> Vec<u8> {
    let pdu = X224(McsMessage::SendDataRequest(SendDataRequest {
        initiator_id,
        channel_id,
        user_data: Cow::Borrowed(user_data),
    }));
    ironrdp_core::encode_vec(&pdu).expect("encoding a Send Data Request")
}

/// One complete (first and last) static virtual channel chunk around `data`.
pub fn svc_chunk(data: &[u8]) -> Vec<u8> {
    let header = ChannelPduHeader {
        length: u32::try_from(data.len()).expect("channel data too large"),
        flags: ChannelControlFlags::FLAG_FIRST | ChannelControlFlags::FLAG_LAST,
    };
    let mut out = ironrdp_core::encode_vec(&header).expect("encoding a channel PDU header");
    out.extend_from_slice(data);
    out
}

/// A dynamic channel PDU from the client, ready for [`svc_chunk`] on `drdynvc`.
pub fn dvc(pdu: DrdynvcClientPdu) -> Vec<u8> {
    ironrdp_core::encode_vec(&pdu).expect("encoding a dynamic channel PDU")
}

/// A complete dynamic channel Data PDU carrying `data` on `channel_id`.
pub fn dvc_data(channel_id: u32, data: &[u8]) -> Vec<u8> {
    dvc(DrdynvcClientPdu::Data(DrdynvcDataPdu::Data(DataPdu::new(channel_id, data.to_vec()))))
}

/// The first fragment of a dynamic channel message announced as `total_length` bytes.
pub fn dvc_data_first(channel_id: u32, total_length: u32, data: &[u8]) -> Vec<u8> {
    dvc(DrdynvcClientPdu::Data(DrdynvcDataPdu::DataFirst(DataFirstPdu::new(channel_id, total_length, data.to_vec()))))
}

/// Sets the length field of a TPKT packet to `len` (to make a PDU lie about its size).
pub fn set_tpkt_length(packet: &mut [u8], len: u16) {
    packet[2..4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_helpers() {
        assert_eq!(tpkt(&[9, 9]), vec![3, 0, 0, 6, 9, 9]);
        let cr = x224_connection_request("someone");
        assert_eq!(cr[0], 3);
        assert_eq!(usize::from(u16::from_be_bytes([cr[2], cr[3]])), cr.len());
        let pdu = mcs_send_data(1007, 1003, &[1, 2, 3]);
        assert_eq!(usize::from(u16::from_be_bytes([pdu[2], pdu[3]])), pdu.len());
        assert_eq!(svc_chunk(&[7]), vec![1, 0, 0, 0, 3, 0, 0, 0, 7]);
    }
}
