//! The channels wayrail speaks itself on IronRDP's dynamic channels (gfxredir, the app list,
//! EGFX PDUs it wrapped) encode their PDUs with their own codecs; [`EncodedPdu`] hands those
//! bytes to `ironrdp-dvc`, which only takes messages that encode themselves.

use ironrdp_core::{Encode, EncodeResult, WriteCursor};
use ironrdp_dvc::{DvcEncode, DvcMessage};

/// One PDU's bytes, named for IronRDP's logs and errors.
pub struct EncodedPdu {
    name: &'static str,
    bytes: Vec<u8>,
}

impl EncodedPdu {
    /// `bytes` as a dynamic channel message.
    pub fn message(name: &'static str, bytes: Vec<u8>) -> DvcMessage {
        Box::new(EncodedPdu { name, bytes })
    }

    /// Each of `pdus` encoded by `encode`, as messages named `name`. One that does not encode
    /// (the channel's own bug: it checks what it queues) is logged under `channel` and left out.
    pub fn encode_all<P, E: std::fmt::Display>(
        name: &'static str,
        channel: &str,
        pdus: Vec<P>,
        encode: impl Fn(&P) -> Result<Vec<u8>, E>,
    ) -> Vec<DvcMessage> {
        let mut messages = Vec::with_capacity(pdus.len());
        for pdu in &pdus {
            match encode(pdu) {
                Ok(bytes) => messages.push(EncodedPdu::message(name, bytes)),
                Err(e) => tracing::warn!("a {channel} PDU not sent: {e}"),
            }
        }
        messages
    }

    /// Each of `encoded` as a dynamic channel message, in order.
    pub fn messages(name: &'static str, encoded: Vec<Vec<u8>>) -> Vec<DvcMessage> {
        encoded.into_iter().map(|bytes| EncodedPdu::message(name, bytes)).collect()
    }
}

impl Encode for EncodedPdu {
    fn encode(&self, dst: &mut WriteCursor<'_>) -> EncodeResult<()> {
        ironrdp_core::ensure_size!(in: dst, size: self.bytes.len());
        dst.write_slice(&self.bytes);
        Ok(())
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn size(&self) -> usize {
        self.bytes.len()
    }
}

impl DvcEncode for EncodedPdu {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_go_out_unchanged_and_a_short_buffer_is_an_error() {
        let pdu = EncodedPdu { name: "TEST_PDU", bytes: vec![1, 2, 3] };
        assert_eq!((pdu.name(), pdu.size()), ("TEST_PDU", 3));
        assert_eq!(ironrdp_core::encode_vec(&pdu).unwrap(), [1, 2, 3]);
        let mut small = [0u8; 2];
        assert!(pdu.encode(&mut WriteCursor::new(&mut small)).is_err());
        assert_eq!(
            EncodedPdu::messages("TEST_PDU", vec![vec![1], vec![2, 3]]).iter().map(|m| m.size()).sum::<usize>(),
            3
        );
    }
}
