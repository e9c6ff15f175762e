//! Caps on what a client makes the server put together from pieces. A static channel PDU
//! arrives in chunks whose header declares the total (any u32), and a dynamic channel message
//! in a DataFirst fragment that declares its total (any u32) and Data fragments after it.
//! IronRDP reassembles both up to whatever was declared, so without these caps one client
//! could make the server hold about 4 GiB per channel.
//!
//! - `ChunkScreen` sees every static channel chunk before IronRDP's reassembly does.
//! - `CappedDrdynvc` sees every dynamic channel PDU before the `drdynvc` processor does.
//!
//! Going over a cap ends the session: no honest client sends that much in one message.

use std::collections::HashMap;

use ironrdp_core::{decode, impl_as_any};
use ironrdp_dvc::DrdynvcServer;
use ironrdp_pdu::gcc::{ChannelName, ChannelOptions};
use ironrdp_pdu::rdp::vc::{ChannelControlFlags, ChannelPduHeader};
use ironrdp_pdu::{pdu_other_err, PduResult};
use ironrdp_svc::{CompressionCondition, SvcMessage, SvcProcessor, SvcServerProcessor};

use crate::SessionId;

/// The largest message wayrail reassembles on a channel (the clipboard has a cap of its own).
pub const MAX_REASSEMBLY: usize = 16 * 1024 * 1024;

/// The bytes of a static channel chunk's header (CHANNEL_PDU_HEADER).
const CHUNK_HEADER: usize = 8;

/// Follows the chunk sequences of every static channel.
#[derive(Debug, Default)]
pub struct ChunkScreen {
    /// Channel id → bytes received of its sequence in progress.
    in_progress: HashMap<u16, usize>,
}

impl ChunkScreen {
    /// Checks a chunk (the user data of a Send Data Request on `channel`) before it is
    /// reassembled: Err(why) when the sequence it belongs to declares or carries more than
    /// `cap` bytes. A chunk without a readable header passes: the reassembly refuses it.
    pub fn check(&mut self, channel: u16, user_data: &[u8], cap: usize) -> Result<(), String> {
        let Ok(header) = decode::<ChannelPduHeader>(user_data) else {
            return Ok(());
        };
        let declared = usize::try_from(header.length).unwrap_or(usize::MAX);
        if declared > cap {
            self.in_progress.remove(&channel);
            return Err(format!("a message of {declared} bytes declared, more than the cap of {cap}"));
        }
        let chunk = user_data.len().saturating_sub(CHUNK_HEADER);
        let first = header.flags.contains(ChannelControlFlags::FLAG_FIRST);
        let last = header.flags.contains(ChannelControlFlags::FLAG_LAST);
        // Counted whatever the header says (a compressed flag lets IronRDP take more than
        // was declared).
        let received = if first { chunk } else { self.in_progress.get(&channel).copied().unwrap_or(0) + chunk };
        if received > cap {
            self.in_progress.remove(&channel);
            return Err(format!("a message of more than {cap} bytes in chunks"));
        }
        if last || (!first && !self.in_progress.contains_key(&channel)) {
            // The end of a sequence, or a message in one piece.
            self.in_progress.remove(&channel);
        } else {
            self.in_progress.insert(channel, received);
        }
        Ok(())
    }
}

/// The total a dynamic channel DataFirst (or DataFirstCompressed) PDU declares; None for any
/// other PDU. MS-RDPEDYC 2.2.3.1: a header byte (cbId in bits 0-1, Sp in bits 2-3, Cmd in bits
/// 4-7), the channel id in 1, 2 or 4 bytes (cbId), the length in 1, 2 or 4 bytes (Sp).
pub fn dvc_declared_length(pdu: &[u8]) -> Option<u32> {
    let (&header, rest) = pdu.split_first()?;
    let cmd = header >> 4;
    if cmd != 0x02 && cmd != 0x06 {
        return None;
    }
    let size = |field: u8| match field & 0b11 {
        0 => Some(1),
        1 => Some(2),
        2 => Some(4),
        _ => None,
    };
    let id_size = size(header)?;
    let len_size = size(header >> 2)?;
    let field = rest.get(id_size..id_size + len_size)?;
    let mut bytes = [0u8; 4];
    bytes[..len_size].copy_from_slice(field);
    Some(u32::from_le_bytes(bytes))
}

/// The `drdynvc` channel with a cap on the dynamic channel messages it reassembles: a DataFirst
/// that declares more than `MAX_REASSEMBLY` is refused before IronRDP sets out to collect it.
/// (A DataFirst with a short total and more Data than it declared is IronRDP's own error.)
#[derive(Debug)]
pub struct CappedDrdynvc {
    pub inner: DrdynvcServer,
    /// The session, for the log.
    session: SessionId,
}

impl_as_any!(CappedDrdynvc);

impl CappedDrdynvc {
    pub fn new(inner: DrdynvcServer, session: SessionId) -> Self {
        CappedDrdynvc { inner, session }
    }
}

impl SvcProcessor for CappedDrdynvc {
    fn channel_name(&self) -> ChannelName {
        self.inner.channel_name()
    }

    fn compression_condition(&self) -> CompressionCondition {
        self.inner.compression_condition()
    }

    fn channel_options(&self) -> ChannelOptions {
        self.inner.channel_options()
    }

    fn start(&mut self) -> PduResult<Vec<SvcMessage>> {
        self.inner.start()
    }

    fn process(&mut self, payload: &[u8]) -> PduResult<Vec<SvcMessage>> {
        if let Some(declared) = dvc_declared_length(payload).filter(|&len| len as usize > MAX_REASSEMBLY) {
            tracing::warn!(
                session = self.session,
                declared,
                cap = MAX_REASSEMBLY,
                "channel drdynvc: a dynamic channel message declared over the reassembly cap"
            );
            return Err(pdu_other_err!("a dynamic channel message declared larger than the reassembly cap"));
        }
        self.inner.process(payload)
    }
}

impl SvcServerProcessor for CappedDrdynvc {}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_core::encode_vec;
    use ironrdp_dvc::pdu::{DataFirstPdu, DataPdu, DrdynvcClientPdu, DrdynvcDataPdu};

    fn chunk(length: usize, flags: ChannelControlFlags, data: usize) -> Vec<u8> {
        let mut out = encode_vec(&ChannelPduHeader { length: length as u32, flags }).unwrap();
        out.extend(vec![0u8; data]);
        out
    }

    const FIRST: ChannelControlFlags = ChannelControlFlags::FLAG_FIRST;
    const LAST: ChannelControlFlags = ChannelControlFlags::FLAG_LAST;
    const NONE: ChannelControlFlags = ChannelControlFlags::empty();

    #[test]
    fn declared_lengths_over_the_cap_are_refused() {
        let mut screen = ChunkScreen::default();
        assert!(screen.check(1004, &chunk(1000, FIRST | LAST, 1000), 1000).is_ok());
        assert!(screen.check(1004, &chunk(1001, FIRST, 10), 1000).unwrap_err().contains("1001 bytes"));
        assert!(screen.check(1004, &chunk(u32::MAX as usize, FIRST | LAST, 3), 1000).is_err());
        // Any chunk, not only the first, is held to the cap.
        assert!(screen.check(1004, &chunk(5000, NONE, 10), 1000).is_err());
        assert!(screen.check(1004, &chunk(MAX_REASSEMBLY + 1, FIRST, 1600), MAX_REASSEMBLY).is_err());
        assert!(screen.check(1004, &chunk(MAX_REASSEMBLY, FIRST, 1600), MAX_REASSEMBLY).is_ok());
    }

    #[test]
    fn chunks_are_counted_per_channel_and_sequence() {
        let mut screen = ChunkScreen::default();
        // 600 + 400 of a declared 1000 on two channels side by side: fine.
        for channel in [1004, 1005] {
            assert!(screen.check(channel, &chunk(1000, FIRST, 600), 1000).is_ok());
        }
        for channel in [1004, 1005] {
            assert!(screen.check(channel, &chunk(1000, LAST, 400), 1000).is_ok());
        }
        // The next sequence counts from zero again.
        assert!(screen.check(1004, &chunk(1000, FIRST, 900), 1000).is_ok());
        assert!(screen.check(1004, &chunk(1000, NONE, 100), 1000).is_ok());
        // More chunks than declared (as a compressed flag lets through): over the cap.
        assert!(screen.check(1004, &chunk(1000, NONE, 1), 1000).unwrap_err().contains("in chunks"));
        // Unchunked messages leave no state behind.
        assert!(screen.check(1006, &chunk(10, NONE, 10), 1000).is_ok());
        assert!(!screen.in_progress.contains_key(&1006));
        // A header cut short is left to the reassembly.
        assert!(screen.check(1004, &[1, 2, 3], 1000).is_ok());
    }

    fn data_first(channel: u32, total: u32) -> Vec<u8> {
        let pdu = DataFirstPdu::new(channel, total, vec![0; 8]);
        encode_vec(&DrdynvcClientPdu::Data(DrdynvcDataPdu::DataFirst(pdu))).unwrap()
    }

    #[test]
    fn dvc_data_first_lengths_are_read_in_every_field_size() {
        for channel in [7, 0x1234, 0x12_3456] {
            for total in [9, 0x1234, 0x12_3456, u32::MAX] {
                assert_eq!(dvc_declared_length(&data_first(channel, total)), Some(total), "{channel} {total}");
            }
        }
        let data = encode_vec(&DrdynvcClientPdu::Data(DrdynvcDataPdu::Data(DataPdu::new(7, vec![1, 2])))).unwrap();
        assert_eq!(dvc_declared_length(&data), None);
        assert_eq!(dvc_declared_length(&[]), None);
        assert_eq!(dvc_declared_length(&[0x20, 7]), None, "cut short");
        assert_eq!(dvc_declared_length(&[0x2C, 7, 0, 0, 0]), None, "no such field size");
        // DataFirstCompressed: the same layout under command 6.
        assert_eq!(dvc_declared_length(&[0x64, 7, 0x34, 0x12]), Some(0x1234));
    }

    #[test]
    fn the_capped_drdynvc_refuses_data_first_over_the_cap() {
        let mut channel = CappedDrdynvc::new(DrdynvcServer::new(), 1);
        assert_eq!(channel.channel_name(), DrdynvcServer::NAME);
        let err = channel.process(&data_first(3, MAX_REASSEMBLY as u32 + 1)).unwrap_err();
        assert!(err.report().to_string().contains("reassembly cap"), "{}", err.report());
        // Under the cap, the PDU reaches IronRDP (which knows no channel 3).
        let err = channel.process(&data_first(3, MAX_REASSEMBLY as u32)).unwrap_err();
        assert!(!err.report().to_string().contains("reassembly cap"), "{}", err.report());
    }
}
