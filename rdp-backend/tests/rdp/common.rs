//! A server under test with its host side (a calloop loop like the compositor's), and the
//! steps most tests share.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use calloop::channel::Event;
use calloop::EventLoop;
use tokio::time::Instant;
use wayrail_rdp::tls::TlsSource;
use wayrail_rdp::{
    Credentials, DesktopFrame, ExecPolicy, HostEvent, Limits, RdpConfig, RdpHandle, RdpServer, SessionId, Takeover,
    Tile,
};
use wayrail_rdp_testclient::{ClientOptions, TestClient};

pub const STEP: Duration = Duration::from_secs(10);

static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on the RDP server's thread. A panic in a session task would not end the
/// thread (tokio catches it), so the thread being alive is not enough to know none happened.
fn watch_server_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("wayrail-rdp") {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Fails when any RDP server thread of this test binary panicked.
pub fn assert_no_server_panics() {
    assert_eq!(SERVER_PANICS.load(Ordering::SeqCst), 0, "the RDP server thread panicked (see the output)");
}

/// The host side: the compositor's end of the server, a calloop loop with the event channel.
pub struct Host {
    event_loop: EventLoop<'static, VecDeque<HostEvent>>,
    queue: VecDeque<HostEvent>,
}

impl Host {
    fn new(channel: calloop::channel::Channel<HostEvent>) -> Result<Host> {
        let event_loop: EventLoop<'static, VecDeque<HostEvent>> = EventLoop::try_new()?;
        event_loop
            .handle()
            .insert_source(channel, |event, _, queue: &mut VecDeque<HostEvent>| {
                if let Event::Msg(e) = event {
                    queue.push_back(e);
                }
            })
            .map_err(|e| anyhow::anyhow!("inserting the host channel: {e}"))?;
        Ok(Host { event_loop, queue: VecDeque::new() })
    }

    fn dispatch(&mut self) -> Result<()> {
        self.event_loop.dispatch(Duration::ZERO, &mut self.queue)?;
        Ok(())
    }

    /// One round: pump each client (or sleep when there is none), then take host events.
    async fn round(&mut self, clients: &mut [&mut TestClient]) -> Result<()> {
        if clients.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for c in clients.iter_mut() {
            c.pump(Duration::from_millis(5)).await?;
        }
        self.dispatch()
    }

    /// The first event matching `want`, pumping `clients` meanwhile; the events before it are
    /// returned too.
    pub async fn expect_with(
        &mut self,
        clients: &mut [&mut TestClient],
        timeout: Duration,
        want: impl Fn(&HostEvent) -> bool,
    ) -> Result<(HostEvent, Vec<HostEvent>)> {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            while let Some(e) = self.queue.pop_front() {
                if want(&e) {
                    return Ok((e, skipped));
                }
                skipped.push(e);
            }
            if Instant::now() >= deadline {
                bail!("no matching host event within {timeout:?}; saw {skipped:?}");
            }
            self.round(clients).await?;
        }
    }

    /// The first event matching `want` (see [`Host::expect_with`]). Skipping a session's
    /// start or end on the way is an error: no test may miss one unnoticed.
    pub async fn expect(
        &mut self,
        clients: &mut [&mut TestClient],
        want: impl Fn(&HostEvent) -> bool,
    ) -> Result<HostEvent> {
        let (event, skipped) = self.expect_with(clients, STEP, want).await?;
        if let Some(e) =
            skipped.iter().find(|e| matches!(e, HostEvent::Connected { .. } | HostEvent::Disconnected { .. }))
        {
            bail!("unexpected {e:?} while waiting for {event:?}");
        }
        Ok(event)
    }

    /// Everything that arrives within `duration`.
    pub async fn collect(&mut self, clients: &mut [&mut TestClient], duration: Duration) -> Result<Vec<HostEvent>> {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            self.round(clients).await?;
        }
        Ok(self.queue.drain(..).collect())
    }
}

pub struct TestServer {
    pub handle: RdpHandle,
    pub host: Host,
    next_frame: u64,
    _state: tempfile::TempDir,
}

impl TestServer {
    pub fn start(listen: &[&str], credentials: Option<Credentials>) -> Result<TestServer> {
        TestServer::start_full(listen, credentials, Takeover::default(), ExecPolicy::default(), Limits::default())
    }

    /// [`TestServer::start`] with these limits.
    pub fn start_limits(listen: &[&str], credentials: Option<Credentials>, limits: Limits) -> Result<TestServer> {
        TestServer::start_full(listen, credentials, Takeover::default(), ExecPolicy::default(), limits)
    }

    /// [`TestServer::start`] with this Exec policy.
    pub fn start_exec(listen: &[&str], credentials: Option<Credentials>, exec: ExecPolicy) -> Result<TestServer> {
        TestServer::start_full(listen, credentials, Takeover::default(), exec, Limits::default())
    }

    /// [`TestServer::start`] with a takeover policy.
    pub fn start_with(listen: &[&str], credentials: Option<Credentials>, takeover: Takeover) -> Result<TestServer> {
        TestServer::start_full(listen, credentials, takeover, ExecPolicy::default(), Limits::default())
    }

    fn start_full(
        listen: &[&str],
        credentials: Option<Credentials>,
        takeover: Takeover,
        exec: ExecPolicy,
        limits: Limits,
    ) -> Result<TestServer> {
        watch_server_panics();
        capture_logs();
        let state = tempfile::tempdir()?;
        let (tx, rx) = calloop::channel::channel();
        let config = RdpConfig {
            listen: listen.iter().map(|a| a.parse()).collect::<Result<_, _>>()?,
            tls: TlsSource::StateDir(state.path().join("tls")),
            credentials,
            takeover,
            default_size: (1024, 768),
            limits,
            exec,
            vail_dir: None,
            audio: None,
            applist: None,
            h264: wayrail_rdp::H264Mode::Auto,
        };
        // `spawn` blocks on a runtime of its own to bind, which tokio forbids inside the test's
        // runtime; the compositor calls it from plain code, as this thread does.
        let handle = std::thread::spawn(move || RdpServer::spawn(config, tx))
            .join()
            .map_err(|_| anyhow::anyhow!("RdpServer::spawn panicked"))??;
        Ok(TestServer { handle, host: Host::new(rx)?, next_frame: 1, _state: state })
    }

    /// A server on a kernel-chosen loopback TCP port.
    pub fn tcp() -> Result<TestServer> {
        TestServer::start(&["tcp:127.0.0.1:0"], None)
    }

    /// [`TestServer::tcp`], and the address it listens on.
    pub fn tcp_at() -> Result<(TestServer, String)> {
        let server = TestServer::tcp()?;
        let addr = server.addr();
        Ok((server, addr))
    }

    /// The first bound address, as the client's `connect` takes it.
    pub fn addr(&self) -> String {
        self.handle.listening[0].clone()
    }

    /// The client leaves, the server reports the end of exactly its session, and no server
    /// thread panicked on the way.
    pub async fn end(&mut self, client: TestClient, session: SessionId) -> Result<()> {
        client.disconnect().await?;
        self.host.expect(&mut [], |e| matches!(e, HostEvent::Disconnected { session: s, .. } if *s == session)).await?;
        assert_no_server_panics();
        Ok(())
    }

    pub fn frame_number(&mut self) -> u64 {
        let n = self.next_frame;
        self.next_frame += 1;
        n
    }

    /// Connects `opts` and checks the host hears of it: Connected with the client's size and
    /// layout. Returns the client and its session id.
    pub async fn connect(&mut self, addr: &str, opts: ClientOptions) -> Result<(TestClient, SessionId)> {
        let mut client = TestClient::connect(addr, opts.clone()).await.context("connecting")?;
        let event = self.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::Connected { .. })).await?;
        let HostEvent::Connected { session, width, height, keyboard_layout, .. } = event else { unreachable!() };
        assert_eq!((width, height), opts.size, "Connected carries the client's desktop size");
        assert_eq!(keyboard_layout, opts.keyboard_layout, "Connected carries the client's keyboard layout");
        Ok((client, session))
    }

    /// Waits until the session's desktop surface exists (the server asks for a full frame then).
    pub async fn wait_graphics_ready(&mut self, client: &mut TestClient) -> Result<()> {
        self.host
            .expect(&mut [&mut *client], |e| matches!(e, HostEvent::Refresh))
            .await
            .context("waiting for the surface")?;
        // The server wrote the surface before it asked for the refresh, but the host may hear
        // of it before the client has read it.
        client.pump_until(STEP, |c| !c.gfx().surfaces_created.is_empty()).await.context("the client's surface")?;
        Ok(())
    }

    /// Sends a frame of `tiles` on a `size` desktop and waits for its FrameDone, pumping `client`.
    pub async fn frame_round_trip(
        &mut self,
        client: &mut TestClient,
        size: (u16, u16),
        tiles: Vec<Tile>,
    ) -> Result<()> {
        let frame = self.frame_number();
        let before = client.frames_received();
        assert!(
            self.handle.send_frame(DesktopFrame { frame, width: size.0, height: size.1, tiles }),
            "the frame queue was full"
        );
        self.host
            .expect(&mut [&mut *client], |e| *e == HostEvent::FrameDone { frame })
            .await
            .with_context(|| format!("waiting for FrameDone {frame}"))?;
        assert!(client.frames_received() > before, "FrameDone came back but the client got no EGFX frame");
        Ok(())
    }

    /// A whole normal session: connect, Connected, a frame whose pixels reach the client.
    /// Returns the connected client and its session id.
    pub async fn check_normal_client(&mut self, addr: &str) -> Result<(TestClient, SessionId)> {
        self.check_client(addr, ClientOptions { size: (640, 480), ..Default::default() }).await
    }

    /// [`TestServer::check_normal_client`] with these options (at least 40x50 pixels).
    pub async fn check_client(&mut self, addr: &str, opts: ClientOptions) -> Result<(TestClient, SessionId)> {
        let size = opts.size;
        let (mut client, session) = self.connect(addr, opts).await?;
        self.wait_graphics_ready(&mut client).await?;
        let color = [0x20, 0x40, 0xC0];
        self.frame_round_trip(&mut client, size, vec![solid(10, 20, 30, 30, color)]).await?;
        assert_eq!(rgb(&client, 10, 20), color);
        assert_eq!(rgb(&client, 39, 49), color);
        assert_eq!(rgb(&client, 40, 50), [0, 0, 0]);
        assert!(self.handle.is_running(), "the RDP server thread ended");
        assert_no_server_panics();
        Ok((client, session))
    }
}

/// A tile of one colour ([r, g, b]).
pub fn solid(x: u16, y: u16, width: u16, height: u16, [r, g, b]: [u8; 3]) -> Tile {
    let bgra = [b, g, r, 0xFF].repeat(usize::from(width) * usize::from(height));
    Tile { x, y, width, height, bgra }
}

/// The client's pixel without alpha.
pub fn rgb(client: &TestClient, x: u16, y: u16) -> [u8; 3] {
    let [r, g, b, _] = client.pixel(x, y);
    [r, g, b]
}

/// Warnings and errors of every server in this test binary, as "LEVEL message field=value".
static LOGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Records the server's warnings, for tests that check what it logs (once per binary).
fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(LogCapture);
    });
}

/// Waits up to `timeout` for a warning or error that contains every one of `words`.
pub async fn expect_log(words: &[&str], timeout: Duration) -> Result<String> {
    capture_logs();
    let deadline = Instant::now() + timeout;
    loop {
        let found = LOGS.lock().unwrap().iter().find(|l| words.iter().all(|w| l.contains(w))).cloned();
        if let Some(line) = found {
            return Ok(line);
        }
        if Instant::now() >= deadline {
            bail!("no log line with {words:?} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A minimal subscriber: keeps WARN and ERROR events, ignores spans.
struct LogCapture;

impl tracing::Subscriber for LogCapture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                use std::fmt::Write as _;
                if field.name() == "message" {
                    let _ = write!(self.0, " {value:?}");
                } else {
                    let _ = write!(self.0, " {}={value:?}", field.name());
                }
            }
        }
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        LOGS.lock().unwrap().push(fields.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// A normal client still gets the whole service; then it leaves again.
pub async fn server_still_serves(server: &mut TestServer) -> Result<()> {
    let addr = server.addr();
    let (client, session) = server.check_normal_client(&addr).await.context("a normal client after the bad one")?;
    server.end(client, session).await
}
