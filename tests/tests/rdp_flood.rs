//! A pre-auth flood against the real wayrail: 300 connections that never log in (half
//! silent, half sending up to 64 KB of garbage) held open while a real client connects. The
//! client is served its first frame within a bound, wayrail's resident memory grows by less
//! than 50 MB, and the compositor lives on.

use std::time::Duration;

use wayrail_e2e::flood::{first_frame, raise_open_files, rss_kb, Flood};
use wayrail_e2e::Compositor;
use wayrail_rdp_testclient::ClientOptions;

const SOCKETS: usize = 300;
/// The connections let in (16 by default) may each hold their place for the whole handshake
/// timeout (30 s) when they send half a PDU, so a real client may wait about that long.
const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(45);
const MAX_GROWTH_KB: u64 = 50 * 1024;

#[tokio::test(flavor = "current_thread")]
async fn a_pre_auth_flood_neither_locks_out_a_real_client_nor_grows_memory() {
    raise_open_files(4 * SOCKETS as u64);
    let mut wr = Compositor::start_rdp(&["--output", "800x600"]);
    let port = wr.rdp_port().expect("a TCP port");
    let addr = format!("127.0.0.1:{port}");
    let pid = wr.pid();
    let before = rss_kb(pid).unwrap();

    let mut flood = Flood::open(port, SOCKETS).unwrap_or_else(|e| panic!("opening the flood: {e:#}"));
    let opts = ClientOptions { size: (800, 600), ..Default::default() };
    let (mut client, took) = first_frame(&addr, &opts, FIRST_FRAME_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("a real client during the flood: {e:#}\n{}", wr.log_tail(30)));
    flood.wait_written();
    let during = rss_kb(pid).unwrap();
    println!("first frame {took:?} after the first try, with {} connections open", flood.len());
    // The client goes on being served while the flood is still held open.
    client.pump(Duration::from_secs(2)).await.unwrap();
    assert!(client.closed().is_none(), "the real client was dropped: {:?}", client.closed());
    let after = rss_kb(pid).unwrap();
    drop(flood);
    println!("wayrail RSS: {before} KiB before, {during} KiB at the first frame, {after} KiB after");
    let grown = during.max(after).saturating_sub(before);
    assert!(grown < MAX_GROWTH_KB, "RSS grew by {grown} KiB ({before} → {during} → {after} KiB)");
    assert!(wr.is_running(), "wayrail died of the flood:\n{}", wr.log_tail(30));
    client.disconnect().await.unwrap();
    assert!(wr.is_running());
}
