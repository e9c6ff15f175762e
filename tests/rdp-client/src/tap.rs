//! A read-only tap on the graphics pipeline's traffic, for what IronRDP's pipeline client
//! decodes but does not hand on: the monitor list of ResetGraphics. It follows the server's
//! slow-path PDUs on the `drdynvc` static channel, reassembles the dynamic channel data of the
//! graphics channel, undoes ZGFX with its own decompressor (the history runs per direction and
//! this one sees every server PDU) and decodes the EGFX PDUs again. The pipeline client keeps
//! doing the real work; the tap only records.

use ironrdp_core::{decode, ReadCursor};
use ironrdp_dvc::pdu::{DrdynvcDataPdu, DrdynvcServerPdu};
use ironrdp_egfx::pdu::{GfxPdu, ResetGraphicsPdu};
use ironrdp_graphics::zgfx;
use ironrdp_pdu::rdp::vc::{ChannelControlFlags, ChannelPduHeader};

/// The EGFX channel's name ([MS-RDPEGFX] 2.1).
const GFX_CHANNEL: &str = "Microsoft::Windows::RDS::Graphics";

/// What the tap saw.
#[derive(Debug, Default, Clone)]
pub struct TapLog {
    /// Every ResetGraphics, with its monitor list, in order.
    pub resets: Vec<ResetGraphicsPdu>,
    /// Why something could not be followed (compressed DVC data, undecodable PDUs).
    pub errors: Vec<String>,
}

pub(crate) struct GfxTap {
    drdynvc: Option<u16>,
    gfx: Option<u32>,
    /// A static channel PDU in chunks, until its last chunk.
    chunks: Vec<u8>,
    /// A DVC message in DataFirst/Data fragments: (total length, bytes so far).
    fragments: Option<(usize, Vec<u8>)>,
    zgfx: zgfx::Decompressor,
    pub log: TapLog,
}

impl GfxTap {
    pub(crate) fn new(drdynvc: Option<u16>) -> GfxTap {
        GfxTap {
            drdynvc,
            gfx: None,
            chunks: Vec::new(),
            fragments: None,
            zgfx: zgfx::Decompressor::new(),
            log: TapLog::default(),
        }
    }

    /// Looks at one slow-path server PDU (the whole TPKT frame).
    pub(crate) fn feed(&mut self, frame: &[u8]) {
        let Some(drdynvc) = self.drdynvc else { return };
        let Ok(indication) = ironrdp_pdu::mcs::decode_send_data_indication(frame) else { return };
        if indication.channel_id != drdynvc {
            return;
        }
        let mut cursor = ReadCursor::new(indication.user_data);
        let header: ChannelPduHeader = match ironrdp_core::decode_cursor(&mut cursor) {
            Ok(h) => h,
            Err(e) => return self.error(format!("channel PDU header: {e}")),
        };
        if header.flags.contains(ChannelControlFlags::FLAG_FIRST) {
            self.chunks.clear();
        }
        self.chunks.extend_from_slice(cursor.remaining());
        if !header.flags.contains(ChannelControlFlags::FLAG_LAST) {
            return;
        }
        let pdu = std::mem::take(&mut self.chunks);
        match decode::<DrdynvcServerPdu>(&pdu) {
            Ok(DrdynvcServerPdu::Create(create)) if create.channel_name() == GFX_CHANNEL => {
                self.gfx = Some(create.channel_id());
                self.zgfx = zgfx::Decompressor::new();
                self.fragments = None;
            }
            Ok(DrdynvcServerPdu::Data(data)) if Some(data.channel_id()) == self.gfx => self.data(data),
            Ok(_) => {}
            Err(e) => self.error(format!("drdynvc PDU: {e}")),
        }
    }

    fn data(&mut self, data: DrdynvcDataPdu) {
        let message = match data {
            DrdynvcDataPdu::DataFirst(first) => {
                let total = first.length() as usize;
                let bytes = first.into_data();
                if bytes.len() >= total {
                    Some(bytes)
                } else {
                    self.fragments = Some((total, bytes));
                    None
                }
            }
            DrdynvcDataPdu::Data(more) => match self.fragments.take() {
                Some((total, mut bytes)) => {
                    bytes.extend_from_slice(more.data());
                    if bytes.len() >= total {
                        Some(bytes)
                    } else {
                        self.fragments = Some((total, bytes));
                        None
                    }
                }
                None => Some(more.into_data()),
            },
            other => {
                self.error(format!("compressed DVC data the tap does not follow: {other:?}"));
                None
            }
        };
        if let Some(message) = message {
            self.gfx_message(&message);
        }
    }

    fn gfx_message(&mut self, message: &[u8]) {
        let mut plain = Vec::new();
        if let Err(e) = self.zgfx.decompress(message, &mut plain) {
            return self.error(format!("ZGFX: {e:?}"));
        }
        let mut cursor = ReadCursor::new(&plain);
        while !cursor.is_empty() {
            match ironrdp_core::decode_cursor::<GfxPdu>(&mut cursor) {
                Ok(GfxPdu::ResetGraphics(reset)) => self.log.resets.push(reset),
                Ok(_) => {}
                Err(e) => return self.error(format!("EGFX PDU: {e}")),
            }
        }
    }

    fn error(&mut self, what: String) {
        tracing::warn!("graphics tap: {what}");
        if self.log.errors.len() < 20 {
            self.log.errors.push(what);
        }
    }
}
