//! Driving the in-repo IronRDP test client against a [`Compositor`]: connecting until the
//! graphics pipeline is up, pumping, and waiting with failures that show the compositor's
//! state (host windows, outputs, windows, log).

use std::time::{Duration, Instant};

use wayrail_rdp_testclient::{ClientBuilder, TestClient};

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
