//! The clipboard channel and its state against PDUs as a client sends them.

use super::*;
use ironrdp_core::encode_vec;

fn feed(channel: &mut ClipboardChannel, pdu: ClipboardPdu<'_>) -> Vec<SvcMessage> {
    channel.process(&encode_vec(&pdu).unwrap()).unwrap()
}

fn host_list(ids: &[(u32, Option<&'static str>)]) -> ClipboardPdu<'static> {
    let formats: Vec<ClipboardFormat> = ids
        .iter()
        .map(|(id, name)| {
            let f = ClipboardFormat::new(ClipboardFormatId::new(*id));
            match name {
                Some(n) => f.with_name(ClipboardFormatName::new_static(n)),
                None => f,
            }
        })
        .collect();
    ClipboardPdu::FormatList(FormatList::new_unicode(&formats, true).unwrap())
}

fn ready() -> (ClipboardChannel, ClipboardState) {
    let mut channel = ClipboardChannel::default();
    let caps = Capabilities::new(ClipboardProtocolVersion::V2, ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES);
    feed(&mut channel, ClipboardPdu::Capabilities(caps));
    (channel, ClipboardState::new(7))
}

/// A Linux app copied text.
fn offer_linux_text(channel: &mut ClipboardChannel, state: &mut ClipboardState, out: &mut Vec<SvcMessage>) {
    state.on_command(channel, ClipboardCommand::Offer { mimes: vec!["text/plain;charset=utf-8".into()] }, out);
}

#[test]
fn host_copy_then_paste_in_linux() {
    let (mut channel, mut state) = ready();
    let replies = feed(&mut channel, host_list(&[(13, None), (0xC004, Some("HTML Format")), (0xC005, Some("Odd"))]));
    assert_eq!(replies.len(), 1, "a format list response");
    let mut out = Vec::new();
    let events = state.on_channel(&mut channel, &mut out);
    let [ClipboardEvent::HostOffer { session: 7, mimes, initial: true }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(mimes.contains(&"text/plain;charset=utf-8".to_string()) && mimes.contains(&"text/html".to_string()));
    // Two pastes: one request on the wire at a time.
    state.on_command(&mut channel, ClipboardCommand::Request { id: 1, mime: "UTF8_STRING".into() }, &mut out);
    state.on_command(&mut channel, ClipboardCommand::Request { id: 2, mime: "text/html".into() }, &mut out);
    assert_eq!(out.len(), 1);
    feed(&mut channel, ClipboardPdu::FormatDataResponse(FormatDataResponse::new_unicode_string("hi")));
    let events = state.on_channel(&mut channel, &mut out);
    assert!(matches!(
        &events[..],
        [ClipboardEvent::HostData { id: 1, kind: FormatKind::UnicodeText, result: Ok(_), .. }]
    ));
    assert_eq!(out.len(), 2, "the second request went out after the first answer");
    // The host never answers: the request times out and the clipboard goes on.
    let events = state.on_timeout(&mut out);
    assert!(matches!(&events[..], [ClipboardEvent::HostData { id: 2, result: Err(_), .. }]));
    assert!(state.deadline().is_none());
    // A format nobody offers fails at once.
    let events =
        state.on_command(&mut channel, ClipboardCommand::Request { id: 3, mime: "image/png".into() }, &mut out);
    assert!(matches!(&events[..], [ClipboardEvent::HostData { id: 3, result: Err(_), .. }]));
}

/// FreeRDP 2.11 lists an X image/png owner as one registered format without a name:
/// wayrail cannot take it, and the host's earlier copy, whose formats are gone, must not
/// stay on offer to Linux. An empty list withdraws nothing (xfreerdp 2.11 sends one
/// when a read of its X clipboard comes back empty), and a Linux copy always stays.
#[test]
fn a_host_copy_linux_cannot_take_withdraws_the_host_offer_only() {
    let (mut channel, mut state) = ready();
    let mut out = Vec::new();
    feed(&mut channel, host_list(&[(13, None)]));
    assert_eq!(state.on_channel(&mut channel, &mut out).len(), 1, "the host's text on offer");
    feed(&mut channel, host_list(&[]));
    assert!(state.on_channel(&mut channel, &mut out).is_empty(), "an empty list keeps the offer");
    feed(&mut channel, host_list(&[(0xD011, None)]));
    let events = state.on_channel(&mut channel, &mut out);
    assert!(
        matches!(&events[..], [ClipboardEvent::HostOffer { mimes, initial: false, .. }] if mimes.is_empty()),
        "{events:?}"
    );
    let request = ClipboardCommand::Request { id: 9, mime: "UTF8_STRING".into() };
    let events = state.on_command(&mut channel, request, &mut out);
    assert!(matches!(&events[..], [ClipboardEvent::HostData { id: 9, result: Err(_), .. }]), "{events:?}");
    // With a Linux selection on offer, such a list changes nothing.
    offer_linux_text(&mut channel, &mut state, &mut out);
    feed(&mut channel, host_list(&[(0xD011, None)]));
    assert!(state.on_channel(&mut channel, &mut out).is_empty());
}

#[test]
fn linux_offer_waits_for_the_host_list_and_host_requests_go_in_order() {
    let (mut channel, mut state) = ready();
    let mut out = Vec::new();
    offer_linux_text(&mut channel, &mut state, &mut out);
    assert!(out.is_empty(), "not before the client's first list");
    // The client's list from before it connected loses against the Linux selection.
    feed(&mut channel, host_list(&[(13, None)]));
    let events = state.on_channel(&mut channel, &mut out);
    assert!(events.is_empty());
    assert_eq!(out.len(), 1, "the Linux list went out after the host's first one");
    feed(&mut channel, ClipboardPdu::FormatDataRequest(FormatDataRequest { format: ClipboardFormatId::new(13) }));
    feed(&mut channel, ClipboardPdu::FormatDataRequest(FormatDataRequest { format: ClipboardFormatId::new(8) }));
    feed(&mut channel, ClipboardPdu::FormatDataRequest(FormatDataRequest { format: ClipboardFormatId::new(1) }));
    let events = state.on_channel(&mut channel, &mut out);
    let [ClipboardEvent::LinuxRequest { id, kind: FormatKind::UnicodeText, mime, .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(mime, "text/plain;charset=utf-8");
    let id = *id;
    // An answer for an unknown id changes nothing.
    state.on_command(&mut channel, ClipboardCommand::LinuxData { session: 7, id: 99, result: Ok(vec![]) }, &mut out);
    assert_eq!(out.len(), 1);
    // The answer goes out; the DIB request fails at once (no image offered); then CF_TEXT.
    let events = state.on_command(
        &mut channel,
        ClipboardCommand::LinuxData { session: 7, id, result: Ok(vec![1, 0]) },
        &mut out,
    );
    assert_eq!(out.len(), 3);
    assert!(matches!(&events[..], [ClipboardEvent::LinuxRequest { kind: FormatKind::Text, .. }]));
}

#[test]
fn host_data_requests_wait_in_a_bounded_queue() {
    let (mut channel, mut state) = ready();
    let mut out = Vec::new();
    offer_linux_text(&mut channel, &mut state, &mut out);
    feed(&mut channel, host_list(&[(13, None)]));
    state.on_channel(&mut channel, &mut out);
    out.clear();
    let request = || ClipboardPdu::FormatDataRequest(FormatDataRequest { format: ClipboardFormatId::new(13) });
    let mut linux_requests = Vec::new();
    for _ in 0..MAX_HOST_REQUESTS + 10 {
        feed(&mut channel, request());
        linux_requests.extend(state.on_channel(&mut channel, &mut out));
    }
    // One request is with the compositor, the cap waits, the rest failed at once.
    assert_eq!(linux_requests.len(), 1);
    assert_eq!(state.host_requests.len(), MAX_HOST_REQUESTS);
    assert_eq!(out.len(), 10, "a failed FormatDataResponse for each refused request");
    let error = encode_vec(&ClipboardPdu::FormatDataResponse(FormatDataResponse::new_error())).unwrap();
    for m in out.drain(..) {
        let bytes = ironrdp_svc::server_encode_svc_messages(vec![m], 1004, 1007).unwrap();
        assert!(bytes.ends_with(&error), "a FormatDataResponse with the error flag");
    }
    // Answering one makes room for one more.
    let [ClipboardEvent::LinuxRequest { id, .. }] = linux_requests.as_slice() else { panic!("{linux_requests:?}") };
    out.clear();
    state.on_command(
        &mut channel,
        ClipboardCommand::LinuxData { session: 7, id: *id, result: Ok(vec![1, 0]) },
        &mut out,
    );
    assert_eq!(state.host_requests.len(), MAX_HOST_REQUESTS - 1);
    out.clear();
    feed(&mut channel, request());
    state.on_channel(&mut channel, &mut out);
    assert!(out.is_empty(), "queued, not refused");
    assert_eq!(state.host_requests.len(), MAX_HOST_REQUESTS);
}

#[test]
fn oversized_chunk_sequences_are_dropped_whole() {
    use ironrdp_pdu::rdp::vc::{ChannelControlFlags as F, ChannelPduHeader};
    let chunk = |length: usize, flags: F| {
        let mut out = encode_vec(&ChannelPduHeader { length: length as u32, flags }).unwrap();
        out.extend_from_slice(&[0; 16]);
        out
    };
    let mut channel = ClipboardChannel::default();
    let huge = MAX_CLIPBOARD_BYTES + 1024;
    assert!(!channel.screen_fragment(&chunk(huge, F::FLAG_FIRST)));
    assert!(!channel.screen_fragment(&chunk(huge, F::empty())));
    assert!(!channel.screen_fragment(&chunk(huge, F::FLAG_LAST)));
    // The next sequence passes again, small or just under the cap.
    assert!(channel.screen_fragment(&chunk(16, F::FLAG_FIRST | F::FLAG_LAST)));
    assert!(channel.screen_fragment(&chunk(MAX_CLIPBOARD_BYTES, F::FLAG_FIRST)));
}

#[test]
fn malformed_pdus_are_skipped() {
    let (mut channel, mut state) = ready();
    let mut out = Vec::new();
    feed(&mut channel, host_list(&[(13, None)]));
    state.on_channel(&mut channel, &mut out);
    state.on_command(&mut channel, ClipboardCommand::Request { id: 1, mime: "text/plain".into() }, &mut out);
    // A data response whose length field claims more than it carries.
    let bad = [5u8, 0, 1, 0, 0xff, 0xff, 0, 0, b'a', 0];
    assert!(channel.process(&bad).unwrap().is_empty());
    let events = state.on_channel(&mut channel, &mut out);
    assert!(matches!(&events[..], [ClipboardEvent::HostData { id: 1, result: Err(_), .. }]));
    // Unknown PDU types and truncated headers.
    assert!(channel.process(&[0x42, 0, 0, 0]).unwrap().is_empty());
    assert!(channel.process(&[]).unwrap().is_empty());
    assert!(state.on_channel(&mut channel, &mut out).is_empty());
}
