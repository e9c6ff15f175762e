//! The real apps of the transports comparison, the same seconds through each transport:
//! typing in foot (running `cat`: each key echoes one character, a small change as in an
//! editor), one key every 100 ms through the IronRDP test client's keyboard; and
//! weston-simple-shm (a 250x250 window redrawn whole on every frame callback). When an app
//! commits is not known outside it, so their latency is wayrail's own commit → frame written
//! figure (`wayrail msg frames`).

use super::transports::{Meter, Row};
use super::*;
use wayrail_rdp_testclient::ironrdp_pdu::input::fast_path::{FastPathInputEvent, KeyboardFlags};
use wayrail_rdp_testclient::ironrdp_rail::{ActivatePdu, RailPdu};

/// Typed into foot, one key every [`KEY_INTERVAL`], over and over.
const TEXT: &str = "the quick brown fox jumps over the lazy dog ";
const KEY_INTERVAL: Duration = Duration::from_millis(100);

/// Both apps' rows, `secs` each, in the session of `probe` (whose window is gone).
pub(super) async fn run(s: &Session, client: &mut TestClient, probe: &Sink, secs: u64) -> anyhow::Result<Vec<Row>> {
    let transport = s.transport;
    let vail = probe.vail_host();
    let secs = Duration::from_secs(secs);
    let typing = typing(s, client, transport, vail.clone(), secs).await.context("typing in foot")?;
    let shm = simple_shm(s, client, transport, vail, secs).await.context("weston-simple-shm")?;
    Ok(vec![typing, shm])
}

async fn typing(
    s: &Session,
    client: &mut TestClient,
    transport: Transport,
    vail: Option<SharedVailHost>,
    secs: Duration,
) -> anyhow::Result<Row> {
    let foot = s.wr.spawn_client("foot", &["cat"], &[]);
    let id = mapped(s, client, &foot).await?;
    let sink = on_host(client, vail, id, None).await?;
    client.send_rail(RailPdu::Activate(ActivatePdu { window_id: id, enabled: true })).await?;
    let deadline = Instant::now() + STEP;
    while !s.wr.window(id.into()).is_some_and(|w| w["activated"] == true) {
        if Instant::now() > deadline {
            bail!("foot was not activated from the host");
        }
        pump(client, 30).await?;
    }
    wait_quiet(client, &sink).await?;

    let meter = Meter::start(&s.wr, client, &sink, transport)?;
    let end = Instant::now() + secs;
    let mut next = Instant::now();
    for c in TEXT.chars().cycle() {
        if next >= end {
            break;
        }
        let (code, _) = wayrail_e2e::us_key(c).context("a key of the US layout")?;
        let code = u8::try_from(code)?;
        client
            .send_input(&[
                FastPathInputEvent::KeyboardEvent(KeyboardFlags::empty(), code),
                FastPathInputEvent::KeyboardEvent(KeyboardFlags::RELEASE, code),
            ])
            .await?;
        next += KEY_INTERVAL;
        pump(client, next.saturating_duration_since(Instant::now()).as_millis() as u64).await?;
    }
    wait_quiet(client, &sink).await?;
    let row = meter.row(&s.wr, client, &sink, "typing in foot, 100 ms", None)?;
    drop(foot);
    gone(s, client, id).await?;
    Ok(row)
}

async fn simple_shm(
    s: &Session,
    client: &mut TestClient,
    transport: Transport,
    vail: Option<SharedVailHost>,
    secs: Duration,
) -> anyhow::Result<Row> {
    let app = s.wr.spawn_client("weston-simple-shm", &[], &[]);
    let id = mapped(s, client, &app).await?;
    // It never holds still: measure from a second on.
    let sink = on_host(client, vail, id, None).await?;
    pump(client, 1000).await?;
    let meter = Meter::start(&s.wr, client, &sink, transport)?;
    pump(client, secs.as_millis() as u64).await?;
    let row = meter.row(&s.wr, client, &sink, "weston-simple-shm", None)?;
    drop(app);
    gone(s, client, id).await?;
    Ok(row)
}

/// The id of `app`'s first toplevel once wayrail maps it (pumping the client meanwhile).
async fn mapped(s: &Session, client: &mut TestClient, app: &Client) -> anyhow::Result<u32> {
    let pid = i64::from(app.pid());
    let deadline = Instant::now() + MAP_TIMEOUT;
    loop {
        let windows = s.wr.windows();
        if let Some(w) = windows.iter().find(|w| w["kind"] == "toplevel" && w["pid"].as_i64() == Some(pid)) {
            return Ok(w["id"].as_u64().context("a window id")? as u32);
        }
        if Instant::now() > deadline {
            bail!("{} never mapped a window:\n{}\n{}", app.name, app.log_tail(20), s.wr.log_tail(20));
        }
        pump(client, 30).await?;
    }
}

/// Waits until window `id` is gone from wayrail (its app was killed).
async fn gone(s: &Session, client: &mut TestClient, id: u32) -> anyhow::Result<()> {
    let deadline = Instant::now() + STEP;
    while s.wr.window(id.into()).is_some() {
        if Instant::now() > deadline {
            bail!("window {id} stayed after its app was killed");
        }
        pump(client, 30).await?;
    }
    Ok(())
}
