//! Driving the in-repo IronRDP test client against a [`Compositor`]: connecting until the
//! graphics pipeline is up, pumping, and waiting with failures that show the compositor's
//! state (host windows, outputs, windows, log).

use std::time::{Duration, Instant};

use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, ClipboardClient, TestClient};

use crate::{Compositor, Value, MAP_TIMEOUT};

/// Connects `builder` to the compositor's RDP port and waits, at most `step`, for the
/// graphics pipeline. Window updates are not kept (the tests read frames and orders).
pub async fn connect_gfx(wr: &Compositor, builder: ClientBuilder, step: Duration) -> TestClient {
    let addr = format!("127.0.0.1:{}", wr.rdp_port().expect("an RDP compositor"));
    let mut client = builder.connect(&addr).await.unwrap_or_else(|e| panic!("connecting: {e:#}\n{}", wr.log_tail(20)));
    client.keep_window_updates(false);
    let ready = client.pump_until(step, |c| c.gfx().confirmed.is_some()).await;
    ready.unwrap_or_else(|e| panic!("no graphics pipeline: {e:#}\n{}", wr.log_tail(20)));
    client
}

/// Pumps for a while (keeps the connection served while the test waits for something else).
pub async fn pump(client: &mut TestClient, ms: u64) {
    client.pump(Duration::from_millis(ms)).await.unwrap_or_else(|e| panic!("{e:#}"));
}

/// Pumps until `cond` holds, at most `step`; fails the test with `what`, the host's windows
/// and the compositor's outputs, windows and log.
pub async fn until(
    wr: &Compositor,
    client: &mut TestClient,
    step: Duration,
    what: &str,
    cond: impl FnMut(&TestClient) -> bool,
) {
    if let Err(e) = client.pump_until(step, cond).await {
        panic!(
            "{what}: {e:#}\nhost windows: {:#?}\noutputs: {}\nwindows: {}\ncompositor log:\n{}",
            client.host_windows().windows,
            Value::Array(wr.outputs()),
            Value::Array(wr.windows()),
            wr.log_tail(30)
        );
    }
}

/// Polls the compositor (pumping the client meanwhile) until a window matches, at most
/// [`MAP_TIMEOUT`].
pub async fn compositor_window(
    wr: &Compositor,
    client: &mut TestClient,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + MAP_TIMEOUT;
    loop {
        if let Some(w) = wr.windows().into_iter().find(|w| pred(w)) {
            return w;
        }
        assert!(Instant::now() < deadline, "no window {what}: {}\n{}", Value::Array(wr.windows()), wr.log_tail(20));
        pump(client, 30).await;
    }
}

/// How long the clipboard channel may take to come up.
const CLIPBOARD_STEP: Duration = Duration::from_secs(30);

/// The IronRDP test client with the clipboard channel, connected to `wr` and past the
/// clipboard's first format list.
pub async fn connect_clipboard(wr: &Compositor) -> TestClient {
    let addr = format!("127.0.0.1:{}", wr.rdp_port().expect("an RDP compositor"));
    let opts = ClientOptions { size: (1024, 768), ..Default::default() };
    let mut client = ClientBuilder::new(opts)
        .with_static_channel(ClipboardClient::default())
        .connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("connecting: {e:#}\n{}", wr.log_tail(20)));
    until_clipboard(wr, &mut client, CLIPBOARD_STEP, "the clipboard channel", |c| {
        c.ready && !c.list_responses.is_empty()
    })
    .await;
    client
}

/// The test client's clipboard channel.
pub fn clip(client: &mut TestClient) -> &mut ClipboardClient {
    client.clipboard().expect("the clipboard channel")
}

/// Pumps the test client until `cond` holds of its clipboard; fails the test after `limit`.
pub async fn until_clipboard(
    wr: &Compositor,
    client: &mut TestClient,
    limit: Duration,
    what: &str,
    mut cond: impl FnMut(&ClipboardClient) -> bool,
) {
    let started = Instant::now();
    while !cond(clip(client)) {
        if started.elapsed() > limit {
            panic!("{what}: not within {limit:?}\n{}", wr.log_tail(25));
        }
        if let Some(why) = client.closed() {
            panic!("{what}: the session ended: {why}\n{}", wr.log_tail(25));
        }
        client.pump(Duration::from_millis(10)).await.expect("pumping the test client");
    }
}
