//! Connection finalization, answered the way MS-RDPBCGR 1.3.1.1 allows: each PDU of the
//! client gets its answer the moment it arrives, whatever order the client sends them in.

use anyhow::{bail, Context};
use ironrdp_acceptor::{Acceptor, AcceptorResult};
use ironrdp_async::FramedWrite as _;
use ironrdp_connector::Sequence as _;
use ironrdp_pdu::mcs;
use ironrdp_pdu::rdp::capability_sets as caps;
use ironrdp_pdu::rdp::client_info::CompressionType;
use ironrdp_pdu::rdp::headers::{
    CompressionFlags, ShareControlHeader, ShareControlPdu, ShareDataHeader, ShareDataPdu, StreamPriority,
};
use ironrdp_pdu::x224::X224;

use crate::monitors::{self, HostMonitor};
use crate::SessionId;

use super::connection::Framed;

/// The connection sequence after TLS, step by step as `ironrdp_acceptor::accept_finalize`
/// runs it, plus three things the acceptor does not do: it keeps the client's monitors from
/// the Connect Initial (with their scale factors, which the acceptor drops), it puts them
/// into the Monitor Layout PDU (where the acceptor lists one desktop-sized monitor), and it
/// answers each finalization PDU of the client as it arrives (see [`Finalization`]).
pub(super) async fn finalize(
    mut framed: Framed,
    acceptor: &mut Acceptor,
    session: SessionId,
) -> anyhow::Result<(Framed, AcceptorResult, Option<Vec<HostMonitor>>)> {
    let mut buf = ironrdp_core::WriteBuf::new();
    let mut client_monitors = None;
    let mut finalization = Finalization::default();
    loop {
        if let Some(result) = acceptor.get_result() {
            return Ok((framed, result, client_monitors));
        }
        buf.clear();
        let state = acceptor.state().name();
        let sending_layout = state == "MonitorLayoutSend";
        let finalizing = state == "ConnectionFinalization";
        let written = match acceptor.next_pdu_hint() {
            Some(hint) => {
                let pdu = framed.read_by_hint(hint).await.context("reading")?;
                if client_monitors.is_none() {
                    client_monitors = monitors::connect_initial_blocks(&pdu).map(|blocks| monitors::from_gcc(&blocks));
                    // Coordinates no host has are not a layout to fall back from: the
                    // client is broken or hostile, and this is before its login.
                    if let Some(Err(why)) = client_monitors.as_deref().map(monitors::check_coordinates) {
                        tracing::warn!(session, "the client's monitors are refused, closing the connection: {why}");
                        bail!("the client's monitors are refused: {why}");
                    }
                }
                let written = acceptor.step(&pdu, framed.last_read_at(), &mut buf)?;
                if finalizing {
                    let answer = finalization.answer(&pdu)?;
                    if !answer.is_empty() {
                        framed.write_all(&answer).await.context("writing")?;
                    }
                }
                written
            }
            None => acceptor.step_no_input(&mut buf)?,
        };
        let Some(len) = written.size() else { continue };
        if finalizing {
            // The acceptor's own Synchronize, Control and Font Map PDUs, which it writes only
            // after the client's Font List: each went out already when its cause arrived.
            continue;
        }
        let mut bytes = buf.filled()[..len].to_vec();
        if sending_layout {
            if let Some(list) = client_monitors.clone().and_then(|m| monitors::validate(m).ok()) {
                match monitors::rewrite_monitor_layout(&bytes, &list) {
                    Some(rewritten) => bytes = rewritten,
                    None => tracing::warn!("the acceptor's monitor layout PDU could not be rewritten"),
                }
            }
        }
        framed.write_all(&bytes).await.context("writing")?;
    }
}

/// The server's half of the connection finalization ([MS-RDPBCGR] 1.3.1.1), sent as the
/// client's half arrives: a Synchronize for its Synchronize, a Control (Cooperate) for its
/// Cooperate, a Control (Granted Control) for its Request Control and a Font Map for its Font
/// List. The two directions have no dependencies on each other, and some clients wait for the
/// server's Synchronize, Cooperate and Granted Control before they send their Font List; the
/// acceptor sends all four only after the Font List, which would leave such clients waiting.
#[derive(Debug, Default)]
struct Finalization {
    /// Which of the four server PDUs went out, in their order: Synchronize, Control
    /// (Cooperate), Control (Granted Control), Font Map.
    sent: [bool; 4],
}

impl Finalization {
    /// The server PDUs that answer `pdu` (none for anything else, or for what was answered
    /// before). The Font List, the client's last, also gets whatever is still missing before
    /// its Font Map, so the server's half is complete and in order even when the client
    /// skipped a PDU.
    fn answer(&mut self, pdu: &[u8]) -> anyhow::Result<Vec<u8>> {
        use ironrdp_pdu::rdp::finalization_messages::{ControlAction, ControlPdu, FontPdu, SynchronizePdu};
        let Some((kind, user, io)) = client_finalization(pdu) else { return Ok(Vec::new()) };
        let due: &[usize] = match kind {
            ShareDataPdu::Synchronize(_) => &[0],
            ShareDataPdu::Control(c) if c.action == ControlAction::Cooperate => &[1],
            ShareDataPdu::Control(c) if c.action == ControlAction::RequestControl => &[2],
            ShareDataPdu::FontList(_) => &[0, 1, 2, 3],
            _ => &[],
        };
        let mut out = Vec::new();
        for &i in due {
            if std::mem::replace(&mut self.sent[i], true) {
                continue;
            }
            let answer = match i {
                0 => ShareDataPdu::Synchronize(SynchronizePdu { target_user_id: user }),
                1 => ShareDataPdu::Control(ControlPdu { action: ControlAction::Cooperate, grant_id: 0, control_id: 0 }),
                2 => ShareDataPdu::Control(ControlPdu {
                    action: ControlAction::GrantedControl,
                    grant_id: user,
                    control_id: u32::from(caps::SERVER_CHANNEL_ID),
                }),
                _ => ShareDataPdu::FontMap(FontPdu::default()),
            };
            tracing::debug!(?answer, "connection finalization: sending");
            out.extend(share_data_indication(user, io, answer)?);
        }
        Ok(out)
    }
}

/// The share data PDU in a slow-path PDU of the client, with the MCS user and I/O channel it
/// came from.
fn client_finalization(pdu: &[u8]) -> Option<(ShareDataPdu, u16, u16)> {
    let X224(mcs::McsMessage::SendDataRequest(data)) = ironrdp_core::decode(pdu).ok()? else {
        return None;
    };
    let header: ShareControlHeader = ironrdp_core::decode(data.user_data.as_ref()).ok()?;
    let ShareControlPdu::Data(share) = header.share_control_pdu else { return None };
    Some((share.share_data_pdu, data.initiator_id, data.channel_id))
}

/// A share data PDU from the server on the I/O channel `io`, to user `user`.
pub(super) fn share_data_indication(user: u16, io: u16, pdu: ShareDataPdu) -> anyhow::Result<Vec<u8>> {
    let user_data = share_data(io, StreamPriority::Undefined, pdu)?;
    let pdu = X224(mcs::SendDataIndication { initiator_id: user, channel_id: io, user_data: user_data.into() });
    Ok(ironrdp_core::encode_vec(&pdu)?)
}

/// A share data PDU from `source`, uncompressed, as the user data of an MCS PDU.
fn share_data(source: u16, priority: StreamPriority, pdu: ShareDataPdu) -> anyhow::Result<Vec<u8>> {
    let header = ShareControlHeader {
        share_id: 0,
        pdu_source: source,
        share_control_pdu: ShareControlPdu::Data(ShareDataHeader {
            share_data_pdu: pdu,
            stream_priority: priority,
            compression_flags: CompressionFlags::empty(),
            compression_type: CompressionType::K8,
        }),
    };
    Ok(ironrdp_core::encode_vec(&header)?)
}

#[cfg(test)]
mod tests {
    use ironrdp_pdu::rdp::finalization_messages::{ControlAction, ControlPdu, FontPdu, SynchronizePdu};

    use super::*;

    const USER: u16 = 1007;
    const IO: u16 = 1003;

    /// A client's share data PDU on the I/O channel, as it comes off the wire.
    fn client_pdu(pdu: ShareDataPdu) -> Vec<u8> {
        let user_data = share_data(USER, StreamPriority::Medium, pdu).unwrap();
        let request = mcs::SendDataRequest { initiator_id: USER, channel_id: IO, user_data: user_data.into() };
        ironrdp_core::encode_vec(&X224(request)).unwrap()
    }

    fn control(action: ControlAction) -> ShareDataPdu {
        ShareDataPdu::Control(ControlPdu { action, grant_id: 0, control_id: 0 })
    }

    /// The server PDUs in `bytes` (one after the other, each with its TPKT length), by name.
    fn answers(bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let X224(indication) = ironrdp_core::decode::<X224<mcs::SendDataIndication<'_>>>(&rest[..len]).unwrap();
            assert_eq!((indication.initiator_id, indication.channel_id), (USER, IO));
            let header: ShareControlHeader = ironrdp_core::decode(indication.user_data.as_ref()).unwrap();
            let ShareControlPdu::Data(share) = header.share_control_pdu else { panic!("not share data") };
            out.push(match share.share_data_pdu {
                ShareDataPdu::Synchronize(s) => format!("synchronize {}", s.target_user_id),
                ShareDataPdu::Control(c) => format!("{:?} {} {}", c.action, c.grant_id, c.control_id),
                ShareDataPdu::FontMap(_) => "font map".to_owned(),
                other => format!("{other:?}"),
            });
            rest = &rest[len..];
        }
        out
    }

    #[test]
    fn each_client_pdu_gets_its_answer_at_once() {
        let mut f = Finalization::default();
        let sync = client_pdu(ShareDataPdu::Synchronize(SynchronizePdu { target_user_id: 0x3ea }));
        assert_eq!(answers(&f.answer(&sync).unwrap()), ["synchronize 1007"]);
        let cooperate = client_pdu(control(ControlAction::Cooperate));
        assert_eq!(answers(&f.answer(&cooperate).unwrap()), ["Cooperate 0 0"]);
        let request = client_pdu(control(ControlAction::RequestControl));
        assert_eq!(answers(&f.answer(&request).unwrap()), ["GrantedControl 1007 1002"]);
        let fonts = client_pdu(ShareDataPdu::FontList(FontPdu::default()));
        assert_eq!(answers(&f.answer(&fonts).unwrap()), ["font map"]);
        // Nothing is answered twice.
        assert!(f.answer(&sync).unwrap().is_empty());
        assert!(f.answer(&fonts).unwrap().is_empty());
    }

    #[test]
    fn a_font_list_alone_gets_the_whole_half_in_order() {
        let mut f = Finalization::default();
        let fonts = client_pdu(ShareDataPdu::FontList(FontPdu::default()));
        assert_eq!(
            answers(&f.answer(&fonts).unwrap()),
            ["synchronize 1007", "Cooperate 0 0", "GrantedControl 1007 1002", "font map"]
        );
    }

    #[test]
    fn other_pdus_get_no_answer() {
        let mut f = Finalization::default();
        assert!(f.answer(&client_pdu(ShareDataPdu::ShutdownRequest)).unwrap().is_empty());
        assert!(f.answer(b"\x03\x00\x00\x05\x00").unwrap().is_empty());
        assert!(f.answer(&[]).unwrap().is_empty());
    }
}
