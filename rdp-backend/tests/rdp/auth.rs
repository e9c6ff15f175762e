//! Who gets in and who gets the session: a wrong password never disturbs the live session,
//! a session goes to another client only as the takeover policy allows, a replaced session's
//! input is dropped at once, and a server without a login is refused beyond loopback.

use std::time::Duration;

use anyhow::{Context as _, Result};
use wayrail_rdp::{Credentials, HostEvent, Takeover};
use wayrail_rdp_testclient::ironrdp_pdu::input::fast_path::{FastPathInputEvent, KeyboardFlags};
use wayrail_rdp_testclient::{ClientOptions, RawConnection, TestClient};

use crate::common::{assert_no_server_panics, expect_log, rgb, solid, TestServer, STEP};

const PASSWORD: &str = "correct horse";

/// Any user name with `PASSWORD`, as wayrail's generated password works.
fn any_user() -> Option<Credentials> {
    Some(Credentials { username: None, password: PASSWORD.into() })
}

fn login(user: &str, password: &str) -> ClientOptions {
    ClientOptions { size: (640, 480), username: user.into(), password: password.into(), ..Default::default() }
}

fn is_session_change(e: &HostEvent) -> bool {
    matches!(e, HostEvent::Connected { .. } | HostEvent::Disconnected { .. })
}

/// `client` is refused after the connection sequence: closed, with an error info it shows.
async fn assert_refused(server: &mut TestServer, live: &mut TestClient, opts: ClientOptions) -> Result<()> {
    let what = format!("{}/{}", opts.username, opts.password);
    if let Ok(mut client) = TestClient::connect(&server.addr(), opts).await {
        // Pump the live client meanwhile: its session goes on.
        let deadline = tokio::time::Instant::now() + STEP;
        while client.closed().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "{what}: the server kept the refused client");
            client.pump(Duration::from_millis(10)).await?;
            live.pump(Duration::from_millis(5)).await?;
        }
        assert!(client.terminated().is_some(), "{what}: the refused client was told why: {:?}", client.closed());
    }
    let events = server.host.collect(&mut [live], Duration::from_millis(300)).await?;
    assert!(!events.iter().any(is_session_change), "{what}: the refusal reached the host: {events:?}");
    Ok(())
}

/// The live client still gets frames, pixel-exact.
async fn assert_still_served(server: &mut TestServer, live: &mut TestClient, color: [u8; 3]) -> Result<()> {
    server.frame_round_trip(live, (640, 480), vec![solid(0, 0, 8, 8, color)]).await?;
    assert_eq!(rgb(live, 7, 7), color);
    assert!(live.closed().is_none());
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_password_does_not_disturb_the_live_session() -> Result<()> {
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], any_user())?;
    let addr = server.addr();
    let (mut live, _) = server.check_client(&addr, login("alice", PASSWORD)).await?;
    assert_refused(&mut server, &mut live, login("alice", "guess")).await?;
    expect_log(&["login refused", "wrong user name or password", "alice", "127.0.0.1"], STEP).await?;
    assert_still_served(&mut server, &mut live, [1, 2, 3]).await?;
    // A second wrong one waits out the first one's back-off, and the live session still goes on.
    assert_refused(&mut server, &mut live, login("mallory", "")).await?;
    expect_log(&["login refused", "mallory", "checked in 2s"], STEP).await?;
    assert_still_served(&mut server, &mut live, [4, 5, 6]).await?;
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn another_user_cannot_take_over_under_the_default_policy() -> Result<()> {
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], any_user())?;
    let addr = server.addr();
    let (mut live, live_id) = server.check_client(&addr, login("alice", PASSWORD)).await?;
    assert_refused(&mut server, &mut live, login("bob", PASSWORD)).await?;
    expect_log(&["takeover refused by the same-user policy", "bob", "alice"], STEP).await?;
    assert_still_served(&mut server, &mut live, [7, 8, 9]).await?;

    // The same user (names compare as Windows does, ignoring case) takes over.
    let mut new = TestClient::connect(&addr, login("ALICE", PASSWORD)).await?;
    let (connected, before) =
        server.host.expect_with(&mut [&mut live, &mut new], STEP, |e| matches!(e, HostEvent::Connected { .. })).await?;
    let ends: Vec<_> = before.iter().filter(|e| matches!(e, HostEvent::Disconnected { .. })).collect();
    assert_eq!(
        ends,
        vec![&HostEvent::Disconnected { session: live_id, reason: "replaced by a new connection".into() }]
    );
    assert!(matches!(connected, HostEvent::Connected { session, .. } if session != live_id));
    expect_log(&["a new session takes over", "of \"alice\" from", "user=\"ALICE\""], STEP).await?;
    live.wait_closed(STEP).await?;
    assert!(live.terminated().is_some(), "the replaced client is told why");
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn takeover_never_and_any() -> Result<()> {
    let mut server = TestServer::start_with(&["tcp:127.0.0.1:0"], any_user(), Takeover::Never)?;
    let addr = server.addr();
    let (mut live, _) = server.check_client(&addr, login("alice", PASSWORD)).await?;
    assert_refused(&mut server, &mut live, login("alice", PASSWORD)).await?;
    assert_still_served(&mut server, &mut live, [10, 11, 12]).await?;
    // Once the live client is gone, the next one gets in.
    live.disconnect().await?;
    server.host.expect(&mut [], |e| matches!(e, HostEvent::Disconnected { .. })).await?;
    server.check_client(&addr, login("bob", PASSWORD)).await?;

    let mut server = TestServer::start_with(&["tcp:127.0.0.1:0"], any_user(), Takeover::Any)?;
    let addr = server.addr();
    let (mut live, _) = server.check_client(&addr, login("alice", PASSWORD)).await?;
    let mut new = TestClient::connect(&addr, login("bob", PASSWORD)).await?;
    server.host.expect_with(&mut [&mut live, &mut new], STEP, |e| matches!(e, HostEvent::Connected { .. })).await?;
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_replaced_session_is_not_heard_any_more() -> Result<()> {
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], any_user())?;
    let addr = server.addr();
    let (mut old, old_id) = server.check_client(&addr, login("alice", PASSWORD)).await?;
    // The old client types on while the new one connects, until its connection is closed.
    let a = FastPathInputEvent::KeyboardEvent(KeyboardFlags::empty(), 0x1E);
    let typing = async {
        let deadline = tokio::time::Instant::now() + STEP;
        while tokio::time::Instant::now() < deadline && old.send_input(&[a]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let (new, ()) = tokio::join!(TestClient::connect(&addr, login("alice", PASSWORD)), typing);
    let mut new = new?;
    let mut events = server.host.collect(&mut [&mut new], Duration::from_millis(500)).await?;
    let replaced = events
        .iter()
        .position(|e| matches!(e, HostEvent::Disconnected { session, .. } if *session == old_id))
        .expect("the old session was replaced");
    let typed = events[..replaced].iter().filter(|e| matches!(e, HostEvent::Key { pressed: true, .. })).count();
    assert!(typed > 0, "the old session's keys reached the host while it was live");
    // After the takeover only its end is heard: the held key released.
    let after: Vec<_> = events.drain(replaced..).filter(|e| matches!(e, HostEvent::Key { .. })).collect();
    assert_eq!(after, vec![HostEvent::Key { code: 30, pressed: false }], "keys of the replaced session");
    // The new one's input does reach the host.
    new.send_input(&[a]).await?;
    server.host.expect(&mut [&mut new], |e| *e == HostEvent::Key { code: 30, pressed: true }).await?;
    assert_no_server_panics();
    Ok(())
}

#[test]
fn no_login_is_refused_beyond_loopback() {
    let err = TestServer::start(&["tcp:0.0.0.0:0"], None).err().expect("refused");
    assert!(err.to_string().contains("no login is required"), "{err:#}");
    // On loopback (and unix sockets) it is allowed.
    TestServer::start(&["tcp:127.0.0.1:0"], None).expect("loopback without a login");
    TestServer::start(&["tcp:0.0.0.0:0"], any_user()).expect("any address with a login");
}

fn nla(user: &str, password: &str) -> ClientOptions {
    ClientOptions { nla: true, ..login(user, password) }
}

#[tokio::test(flavor = "current_thread")]
async fn nla_logs_in_with_the_right_password_and_a_tls_client_still_does() -> Result<()> {
    // A fixed user name: NTLM checks it too, ignoring ASCII case as Windows does.
    let alice = Some(Credentials { username: Some("Alice".into()), password: PASSWORD.into() });
    let mut server = TestServer::start_with(&["tcp:127.0.0.1:0"], alice, Takeover::Any)?;
    let addr = server.addr();
    // The NLA-only client offers nothing but CredSSP, so a session means NLA logged it in.
    let (live, _) = server.check_client(&addr, nla("alice", PASSWORD)).await?;
    live.disconnect().await?;
    server.host.expect(&mut [], |e| matches!(e, HostEvent::Disconnected { .. })).await?;
    // A TLS client on the same server (a login configured, NLA offered) is still served.
    let (live, _) = server.check_client(&addr, login("ALICE", PASSWORD)).await?;
    live.disconnect().await?;
    server.host.expect(&mut [], |e| matches!(e, HostEvent::Disconnected { .. })).await?;

    // Any user name with the generated password, as wayrail's default login is.
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], any_user())?;
    let addr = server.addr();
    server.check_client(&addr, nla("carol", PASSWORD)).await?;
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_nla_login_is_refused_logged_and_backed_off() -> Result<()> {
    let alice = Some(Credentials { username: Some("alice".into()), password: PASSWORD.into() });
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], alice)?;
    let addr = server.addr();
    let (mut live, _) = server.check_client(&addr, login("alice", PASSWORD)).await?;

    // Each refusal is checked a whole back-off after the one before, which was after this.
    let first = tokio::time::Instant::now();
    let refused = TestClient::connect(&addr, nla("alice", "guess")).await;
    assert!(refused.is_err(), "a wrong NLA password connected");
    let line =
        expect_log(&["login refused (NLA)", "wrong user name or password", "127.0.0.1", "checked in 1s"], STEP).await?;
    println!("{line}");
    let events = server.host.collect(&mut [&mut live], Duration::from_millis(300)).await?;
    assert!(!events.iter().any(is_session_change), "the refusal reached the host: {events:?}");
    assert_still_served(&mut server, &mut live, [21, 22, 23]).await?;

    // An unknown user is a failed login as well, counted with the first one: it waits the
    // first one's back-off, and doubles it.
    assert!(TestClient::connect(&addr, nla("mallory", PASSWORD)).await.is_err(), "an unknown user connected");
    assert!(first.elapsed() >= Duration::from_secs(1), "not backed off: {:?}", first.elapsed());
    expect_log(&["login refused (NLA)", "checked in 2s"], STEP).await?;
    assert_still_served(&mut server, &mut live, [24, 25, 26]).await?;

    // A TLS login from the same address waits out the same back-off.
    assert_refused(&mut server, &mut live, login("alice", "guess again")).await?;
    assert!(first.elapsed() >= Duration::from_secs(3), "not backed off: {:?}", first.elapsed());
    expect_log(&["login refused: wrong user name or password", "checked in 4s"], STEP).await?;
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn the_takeover_policy_holds_for_nla_logins() -> Result<()> {
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], any_user())?;
    let addr = server.addr();
    let (mut live, live_id) = server.check_client(&addr, nla("alice", PASSWORD)).await?;
    assert_refused(&mut server, &mut live, nla("bob", PASSWORD)).await?;
    expect_log(&["takeover refused by the same-user policy", "bob", "alice"], STEP).await?;
    assert_still_served(&mut server, &mut live, [31, 32, 33]).await?;
    // The same user, by NLA, takes over.
    let mut new = TestClient::connect(&addr, nla("Alice", PASSWORD)).await?;
    let (_, before) =
        server.host.expect_with(&mut [&mut live, &mut new], STEP, |e| matches!(e, HostEvent::Connected { .. })).await?;
    assert!(before.iter().any(|e| matches!(e, HostEvent::Disconnected { session, .. } if *session == live_id)));
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn nla_needs_a_login_and_plain_rdp_security_is_never_offered() -> Result<()> {
    // Without a login there is nothing for NLA to check: an NLA-only client is refused in
    // the negotiation, and a TLS client gets in as before.
    let (mut server, addr) = TestServer::tcp_at()?;
    assert!(TestClient::connect(&addr, nla("alice", PASSWORD)).await.is_err(), "NLA without a login");
    server.check_client(&addr, login("alice", "")).await?;
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_in_place_of_credssp_is_a_failed_login_closed_at_once() -> Result<()> {
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], any_user())?;
    let addr = server.addr();
    let mut declared_64k = vec![0x30, 0x82, 0xFF, 0xF0];
    declared_64k.extend([0u8; 1024]);
    let cases = [
        ("not a BER SEQUENCE", b"GET / HTTP/1.1\r\n\r\n".to_vec(), "not a CredSSP message"),
        ("a TSRequest declared at 64 KiB", declared_64k, "over the size cap"),
        ("a TSRequest that does not decode", vec![0x30, 0x03, 0x02, 0x01, 0xFF], "does not decode"),
    ];
    for (what, bytes, said) in cases {
        let started = tokio::time::Instant::now();
        let mut conn = RawConnection::open_tls(&addr, &nla("eve", PASSWORD)).await.context(what)?;
        conn.send(&bytes).await.context(what)?;
        // Closed after the back-off of the failures before, long before the handshake's 30 s.
        conn.wait_closed(STEP).await.context(what)?;
        assert!(started.elapsed() < Duration::from_secs(8), "{what}: closed after {:?}", started.elapsed());
        let line = expect_log(&["login refused (NLA)", said], STEP).await.context(what)?;
        println!("{what}: {line}");
    }
    expect_log(&["login refused (NLA)", "checked in 4s"], STEP).await?;
    assert!(server.handle.is_running());
    assert_no_server_panics();
    // After the back-off, a good login is served.
    server.check_client(&addr, nla("alice", PASSWORD)).await?;
    Ok(())
}
