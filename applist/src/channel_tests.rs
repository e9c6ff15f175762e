use std::path::PathBuf;

use super::*;
use crate::codec::ClientCaps;

const GUID: &str = "8e1b2a7c-0f3d-4c7a-9d2e-5b6a7c8d9e0f";

fn listed(id: &str, name: &str, program: &str) -> Listed {
    Listed {
        app: App {
            id: id.into(),
            name: name.into(),
            comment: None,
            exec: program.into(),
            program: program.into(),
            working_dir: None,
            icon: None,
            wm_class: None,
            path: PathBuf::from(format!("/x/{id}.desktop")),
        },
        icon: IconData::bgra_bottom_up(1, 1, &[1, 2, 3, 255]),
    }
}

fn caps(language: &str, version: u16) -> Vec<u8> {
    ClientPdu::Caps(ClientCaps { version, language: language.into() }).encode().unwrap()
}

fn ready_channel() -> AppListChannel {
    let mut c = AppListChannel::new("wayrail", GUID).unwrap();
    c.opened();
    c.receive(&caps("de_DE", 4));
    c
}

/// (kind, id, hints) of each PDU.
fn summary(pdus: &[ServerPdu]) -> Vec<(&'static str, String, u32)> {
    pdus.iter()
        .map(|p| match p {
            ServerPdu::UpdateAppList(u) => ("update", u.id.clone(), u.hints),
            ServerPdu::DeleteAppList(d) => ("delete", d.id.clone(), 0),
            ServerPdu::DeleteAppListProvider { name } => ("provider", name.clone(), 0),
            ServerPdu::AssociateWindowId(a) => ("associate", format!("{}@{}", a.id, a.window_id), 0),
            ServerPdu::Caps(c) => ("caps", c.provider_name.clone(), 0),
        })
        .collect()
}

#[test]
fn caps_first_then_the_hosts_language() {
    assert!(AppListChannel::new("my provider", GUID).is_err());
    assert!(AppListChannel::new("a..b", GUID).is_err());
    assert!(AppListChannel::new("a\"b", GUID).is_err());
    assert!(AppListChannel::new("wayrail", "{8e1b2a7c-0f3d-4c7a-9d2e-5b6a7c8d9e0f}").is_err());
    let mut c = AppListChannel::new("wayrail", GUID).unwrap();
    c.opened();
    let out = c.take_output();
    assert_eq!(
        out,
        vec![ServerPdu::Caps(ServerCaps { version: 4, provider_name: "wayrail".into(), provider_id: GUID.into() })]
    );
    // Nothing is listed before the host answers.
    c.publish(vec![listed("foot", "Foot", "foot")]);
    assert!(c.take_output().is_empty());
    c.receive(&caps("en_US", 3));
    assert!(c.take_events().is_empty(), "an old host gets no list");
    c.receive(b"\x01\x00\x00\x00\xff\x00\x00\x00garbage");
    c.receive(&[]);
    assert_eq!(c.malformed, 2, "malformed PDUs are counted and skipped");
    c.receive(&caps("de_DE", 4));
    assert_eq!(c.take_events(), vec![AppListEvent::HostReady { language: "de_DE".into() }]);
    assert_eq!(c.language(), Some("de_DE"));
}

#[test]
fn a_full_sync_then_changes_one_by_one() {
    let mut c = ready_channel();
    c.take_output();
    let sync = NEWID_SYNC;
    c.publish(vec![listed("b", "B", "b"), listed("a", "A", "a"), listed("c", "C", "c")]);
    assert_eq!(
        summary(&c.take_output()),
        vec![
            ("update", "a".into(), sync | field::HINT_SYNC_START),
            ("update", "b".into(), sync),
            ("update", "c".into(), sync | field::HINT_SYNC_END),
        ]
    );
    // The same list again: nothing.
    c.publish(vec![listed("a", "A", "a"), listed("b", "B", "b"), listed("c", "C", "c")]);
    assert!(c.take_output().is_empty());
    // One renamed, one gone, one new.
    c.publish(vec![listed("a", "A2", "a"), listed("c", "C", "c"), listed("d", "D", "d")]);
    assert_eq!(
        summary(&c.take_output()),
        vec![("delete", "b".into(), 0), ("update", "a".into(), 0), ("update", "d".into(), field::HINT_NEWID)]
    );
    assert_eq!(c.sent().map(|l| l.app.id.as_str()).collect::<Vec<_>>(), ["a", "c", "d"]);
    c.goodbye();
    assert_eq!(summary(&c.take_output()), vec![("provider", "wayrail".into(), 0)]);
}

const NEWID_SYNC: u32 = field::HINT_NEWID | field::HINT_SYNC;

#[test]
fn one_entry_starts_and_ends_the_sync_and_none_clears_the_provider() {
    let mut c = ready_channel();
    c.take_output();
    c.publish(vec![listed("a", "A", "a")]);
    assert_eq!(
        summary(&c.take_output()),
        vec![("update", "a".into(), NEWID_SYNC | field::HINT_SYNC_START | field::HINT_SYNC_END)]
    );
    let mut c = ready_channel();
    c.take_output();
    c.publish(Vec::new());
    assert_eq!(summary(&c.take_output()), vec![("provider", "wayrail".into(), 0)]);
    // A reopened channel syncs again.
    c.opened();
    c.receive(&caps("en_US", 4));
    c.take_output();
    c.publish(vec![listed("a", "A", "a")]);
    assert_eq!(summary(&c.take_output())[0].2 & field::HINT_SYNC_START, field::HINT_SYNC_START);
}

#[test]
fn windows_are_associated_with_their_entries_once() {
    let mut c = ready_channel();
    c.take_output();
    // A window that maps before the list went is associated when it goes.
    c.window(7, "foot");
    assert!(c.take_output().is_empty());
    c.publish(vec![listed("org.codeberg.dnkl.foot", "Foot", "foot"), listed("xterm", "XTerm", "xterm")]);
    let out = summary(&c.take_output());
    assert_eq!(out.last().unwrap(), &("associate", "org.codeberg.dnkl.foot@7".into(), 0));
    c.window(7, "foot");
    assert!(c.take_output().is_empty(), "once");
    c.window(8, "XTerm");
    assert_eq!(summary(&c.take_output()), vec![("associate", "xterm@8".into(), 0)]);
    c.window(9, "unknown-app");
    assert!(c.take_output().is_empty());
    c.window_gone(8);
    c.publish(vec![listed("org.codeberg.dnkl.foot", "Foot", "foot")]);
    assert_eq!(summary(&c.take_output()), vec![("delete", "xterm".into(), 0)]);
}

#[test]
fn entries_the_wire_cannot_carry_are_left_out() {
    let mut c = ready_channel();
    c.take_output();
    let mut long = listed("long", "L", "l");
    long.app.exec = "x".repeat(300);
    c.publish(vec![long, listed("ok", "OK", "ok")]);
    assert_eq!(summary(&c.take_output()).len(), 1);
    for pdu in c.take_output() {
        pdu.encode().unwrap();
    }
}
