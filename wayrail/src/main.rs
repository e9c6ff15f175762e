//! `wayrail`: runs the compositor, or (`wayrail msg ...`) talks to a running one.

mod rdp;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

use wayrail_compositor::config::{BackendKind, Config, OutputSpec, XwaylandMode};
use wayrail_compositor::ipc::{self, InputRequest, Request, WindowOp};
use wayrail_compositor::{Server, ServerOptions};

#[derive(Parser)]
#[command(name = "wayrail", version, about = "Linux GUI apps as individual windows on a remote desktop")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Where the desktop goes (default: rdp).
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Wayland socket name in XDG_RUNTIME_DIR (default: the first free wayland-N).
    #[arg(long)]
    socket: Option<String>,
    /// When to run Xwayland.
    #[arg(long, value_enum)]
    xwayland: Option<XwaylandMode>,
    /// A virtual output (headless): WIDTHxHEIGHT[@HZ][,scale=S][,x=X][,y=Y][,name=N]. Repeatable.
    #[arg(long = "output", value_name = "SPEC")]
    outputs: Vec<OutputSpec>,
    /// Where RDP clients connect: tcp:HOST:PORT (default tcp:127.0.0.1:3389), unix:PATH,
    /// vsock:CID:PORT or fd:N (a listening socket from a supervisor). Repeatable.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<wayrail_link::ListenAddr>,
    /// TLS certificate (PEM); default: a self-signed one made on first run.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Let RDP clients in without a login. Only for transports that are trusted already (a
    /// unix or vsock socket, an SSH tunnel to loopback): refused on TCP beyond loopback.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Share the PRIMARY selection with the host too (config `clipboard.primary`).
    #[arg(long)]
    clipboard_primary: bool,
    /// Config file (default: $XDG_CONFIG_HOME/wayrail/config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Ask a running wayrail about its state.
    Msg {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        what: MsgCommand,
    },
}

#[derive(Subcommand)]
enum MsgCommand {
    /// wayrail's version and sockets.
    Version,
    /// Every window: id, title, app id, pid, parent, geometry, state, output, scale.
    Windows,
    /// Every output: physical and logical rectangles, scale, refresh.
    Outputs,
    /// Connected Wayland clients.
    Clients,
    /// Sound to the host: the sink, the client's format, packets and bytes sent, confirms.
    Audio,
    /// The app list the host was sent (its start menu): id, name, command, icon size.
    Apps,
    /// RemoteApp window frames, per transport: how long from an app's commit to the frame
    /// written to the host (VAIL PresentBuffer, EGFX EndFrame), over the newest frames.
    Frames,
    /// Write a PNG of an output (default: the first) or of one window.
    Screenshot {
        path: PathBuf,
        #[arg(long, conflicts_with = "window")]
        output: Option<String>,
        #[arg(long)]
        window: Option<u32>,
    },
    /// Inject input: `key CODE down|up`, `tap CODE`, `motion X Y`, `button CODE down|up`,
    /// `click X Y [CODE]`, `wheel V120 [H120]`; codes are evdev (KEY_A = 30, BTN_LEFT = 272).
    Input {
        #[arg(allow_hyphen_values = true, required = true)]
        words: Vec<String>,
    },
    /// Operate on a window: focus, close, maximize, unmaximize, minimize, restore, move X Y, resize W H.
    Window {
        id: u32,
        op: String,
        #[arg(allow_hyphen_values = true)]
        args: Vec<i32>,
    },
}

/// `wayrail msg audio` / `apps` / `frames`: answered by the IPC thread itself from what the sessions
/// recorded (see `ipc::answer_locally`), then printed by `print` unless `json`.
fn msg_local(name: &str, json: bool, print: fn(&Value)) -> anyhow::Result<()> {
    let data = ipc::send(&ipc::find_socket()?, &serde_json::json!({ "cmd": name }))?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&data)?),
        false => print(&data),
    }
    Ok(())
}

fn print_apps(data: &Value) {
    match data["language"].as_str() {
        Some(lang) => println!("provider {} (host language {lang})", data["provider"].as_str().unwrap_or("?")),
        None => println!("no host has the app list"),
    }
    for app in data["apps"].as_array().into_iter().flatten() {
        let icon = &app["icon"];
        println!(
            "{:<32} {:<28} {}x{}  {}",
            app["id"].as_str().unwrap_or(""),
            app["name"].as_str().unwrap_or(""),
            icon[0],
            icon[1],
            app["exec"].as_str().unwrap_or("")
        );
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Msg { json, what }) => msg(json, what),
        None => run(cli.run),
    };
    if let Err(err) = result {
        eprintln!("wayrail: {err:#}");
        std::process::exit(1);
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // SVG icons of common themes use what resvg does not support, harmlessly, and it warns per
    // element: its warnings only when asked for by name.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("usvg")) {
        filter = filter.add_directive("usvg=error".parse().expect("a valid directive"));
    }
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(b) = args.backend {
        config.backend = b;
    }
    if let Some(s) = args.socket {
        config.socket = Some(s);
    }
    if let Some(x) = args.xwayland {
        config.xwayland = x;
    }
    if args.clipboard_primary {
        config.clipboard.primary = true;
    }
    if !args.outputs.is_empty() {
        config.outputs = args.outputs;
    }
    if !args.listen.is_empty() {
        config.rdp.listen = args.listen;
    }
    if args.tls_cert.is_some() {
        config.rdp.tls_cert = args.tls_cert;
        config.rdp.tls_key = args.tls_key;
    }
    config.rdp.insecure_no_auth = args.insecure_no_auth;
    let rdp = config.rdp.clone();
    let had_runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| !d.is_empty());
    let mut server = Server::new(ServerOptions { config, runtime_dir: None, remote: Some(Box::new(rdp::start)) })?;
    println!("wayrail is running: WAYLAND_DISPLAY={}", server.socket_name);
    let listening = server.state.backend.listening().to_vec();
    for addr in &listening {
        println!("  RDP on {addr}");
    }
    if !listening.is_empty() {
        print_login_hint(&rdp, &listening)?;
    }
    // A shell without a login session has no XDG_RUNTIME_DIR: then the apps need ours too.
    let env = match (had_runtime_dir, std::env::var("XDG_RUNTIME_DIR")) {
        (false, Ok(dir)) => format!("XDG_RUNTIME_DIR={dir} WAYLAND_DISPLAY={}", server.socket_name),
        _ => format!("WAYLAND_DISPLAY={}", server.socket_name),
    };
    println!("  apps: {env} foot   |   wayrail msg windows");
    if let Ok(pulse) = std::env::var("PULSE_SERVER") {
        println!("  sound: PULSE_SERVER={pulse} (the host plays it)");
    }
    let result = server.run();
    rdp::stop_audio();
    result
}

/// How to connect: the user name, where the password is, an xfreerdp3 command line. The
/// password itself is printed only to a terminal, never into a log file.
fn print_login_hint(rdp: &wayrail_compositor::config::RdpSettings, listening: &[String]) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    use wayrail_compositor::login::{self, PasswordSource};
    let login = login::resolve(rdp, &wayrail_compositor::config::state_dir()?)?;
    let user = rdp.username.clone().unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "me".into()));
    let password_arg = match &login {
        None => {
            println!("  login: none (--insecure-no-auth): whoever reaches a listener gets the session");
            "/p:".to_owned()
        }
        Some(login) => {
            let who = match &rdp.username {
                Some(name) => format!("user {name}"),
                None => format!("any user name (e.g. {user})"),
            };
            match &login.source {
                PasswordSource::Config => {
                    println!("  login: {who}; password: [rdp] password in the config");
                    "/p:PASSWORD".to_owned()
                }
                PasswordSource::File(path) | PasswordSource::Generated(path) => {
                    if std::io::stdout().is_terminal() {
                        println!("  login: {who}; password: {} (kept in {})", login.password, path.display());
                    } else {
                        println!("  login: {who}; password: the first line of {}", path.display());
                    }
                    format!("/p:\"$(head -1 {})\"", path.display())
                }
            }
        }
    };
    for addr in listening {
        if let Some(hostport) = addr.strip_prefix("tcp:") {
            println!(
                "  connect: xfreerdp3 /v:{hostport} /cert:ignore /sec:tls /u:{user} {password_arg} /dynamic-resolution"
            );
        }
    }
    Ok(())
}

fn msg(json: bool, what: MsgCommand) -> anyhow::Result<()> {
    let mut screenshot_to = None;
    let request = match what {
        MsgCommand::Audio => return msg_local("audio", json, print_audio),
        MsgCommand::Apps => return msg_local("apps", json, print_apps),
        MsgCommand::Frames => return msg_local("frames", json, print_frames),
        MsgCommand::Version => Request::Version,
        MsgCommand::Windows => Request::Windows,
        MsgCommand::Outputs => Request::Outputs,
        MsgCommand::Clients => Request::Clients,
        MsgCommand::Screenshot { path, output, window } => {
            screenshot_to = Some(if path.is_absolute() { path } else { std::env::current_dir()?.join(path) });
            Request::Screenshot { output, window }
        }
        MsgCommand::Window { id, op, args } => Request::Window { id, op: parse_op(&op, &args)? },
        MsgCommand::Input { words } => Request::Input { events: parse_input(&words)? },
    };
    let kind = request.clone();
    let mut data = ipc::send(&ipc::find_socket()?, &request)?;
    if let Some(path) = screenshot_to {
        // wayrail sends the PNG; we write it, with our rights, where we were told.
        use base64::Engine as _;
        let png = data.as_object_mut().and_then(|o| o.remove("png"));
        let png = png.as_ref().and_then(Value::as_str).ok_or_else(|| anyhow::anyhow!("no PNG in the answer"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png)
            .map_err(|e| anyhow::anyhow!("bad PNG in the answer: {e}"))?;
        std::fs::write(&path, bytes).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        data["path"] = Value::String(path.display().to_string());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&data)?);
        return Ok(());
    }
    print_human(&kind, &data);
    Ok(())
}

fn parse_op(op: &str, args: &[i32]) -> anyhow::Result<WindowOp> {
    let two = |what: &str| -> anyhow::Result<(i32, i32)> {
        match args {
            [a, b] => Ok((*a, *b)),
            _ => anyhow::bail!("{op} takes two numbers: {what}"),
        }
    };
    Ok(match op {
        "focus" => WindowOp::Focus,
        "close" => WindowOp::Close,
        "maximize" => WindowOp::Maximize,
        "unmaximize" => WindowOp::Unmaximize,
        "minimize" => WindowOp::Minimize,
        "restore" => WindowOp::Restore,
        "move" => two("X Y").map(|(x, y)| WindowOp::Move { x, y })?,
        "resize" => two("WIDTH HEIGHT").map(|(width, height)| WindowOp::Resize { width, height })?,
        other => anyhow::bail!("unknown window operation {other:?}"),
    })
}

fn parse_input(words: &[String]) -> anyhow::Result<Vec<InputRequest>> {
    let num = |i: usize| -> anyhow::Result<f64> {
        words
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("{} needs more arguments", words[0]))?
            .parse::<f64>()
            .map_err(|_| anyhow::anyhow!("{:?} is not a number", words[i]))
    };
    let pressed = |i: usize| -> anyhow::Result<bool> {
        match words.get(i).map(String::as_str) {
            Some("down" | "press" | "pressed") => Ok(true),
            Some("up" | "release" | "released") => Ok(false),
            _ => anyhow::bail!("{} needs down or up", words[0]),
        }
    };
    Ok(match words[0].as_str() {
        "key" => vec![InputRequest::Key { code: num(1)? as u32, pressed: pressed(2)? }],
        "tap" => {
            let code = num(1)? as u32;
            vec![InputRequest::Key { code, pressed: true }, InputRequest::Key { code, pressed: false }]
        }
        "motion" => vec![InputRequest::Motion { x: num(1)?, y: num(2)? }],
        "button" => vec![InputRequest::Button { button: num(1)? as u32, pressed: pressed(2)? }],
        "click" => {
            let button = if words.len() > 3 { num(3)? as u32 } else { wayrail_compositor::input::BTN_LEFT };
            vec![
                InputRequest::Motion { x: num(1)?, y: num(2)? },
                InputRequest::Button { button, pressed: true },
                InputRequest::Button { button, pressed: false },
            ]
        }
        "wheel" => vec![InputRequest::Axis {
            vertical_v120: num(1)? as i32,
            horizontal_v120: if words.len() > 2 { num(2)? as i32 } else { 0 },
        }],
        other => anyhow::bail!("unknown input {other:?}"),
    })
}

fn print_frames(data: &Value) {
    // p50, p99 and max of a list of µs, in ms.
    let figures = |list: &Value| {
        let mut us: Vec<u64> = list.as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
        us.sort_unstable();
        let q = |q: f64| us.get(((us.len().max(1) - 1) as f64 * q).round() as usize).map(|&v| v as f64 / 1000.0);
        match (q(0.5), q(0.99), q(1.0)) {
            (Some(p50), Some(p99), Some(max)) => format!("p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms"),
            _ => "-".into(),
        }
    };
    for transport in ["vail", "egfx"] {
        let t = &data[transport];
        let newest = t["last_us"].as_array().map_or(0, Vec::len);
        println!("{transport}: {} frames timed; the newest {newest}:", t["frames"]);
        println!("  commit to written to the host: {}", figures(&t["last_us"]));
        println!("  frame clock tick to written:   {}", figures(&t["last_after_tick_us"]));
    }
}

fn print_audio(data: &Value) {
    if data["enabled"] != Value::Bool(true) {
        println!("sound to the host: off ({})", data["why"].as_str().unwrap_or("-"));
        return;
    }
    let sink = &data["sink"];
    println!(
        "sink: s16le {} Hz {} ch; PULSE_SERVER={}",
        sink["rate"],
        sink["channels"],
        data["pulse_server"].as_str().unwrap_or("-")
    );
    match data["client_format"].as_str() {
        Some(format) => println!("client: session {}, {format}", data["session"]),
        None => println!("client: none (sound is read and thrown away)"),
    }
    let n = |k: &str| data[k].to_string();
    println!(
        "read: {} packets, {} bytes ({} silent, {} without a client)",
        n("packets_read"),
        n("bytes_read"),
        n("silent_packets"),
        n("no_client_packets")
    );
    println!("sent: {} packets, {} bytes; {} wave confirms", n("packets_sent"), n("bytes_sent"), n("wave_confirms"));
    println!(
        "dropped: {} packets (client too slow: queue full), {} packets (waited too long to be sent), \
         {} ms skipped in the sink's FIFO ({} times it fell behind)",
        n("dropped_packets"),
        n("late_packets"),
        n("backlog_skipped_ms"),
        n("backlog_skips")
    );
    println!(
        "latency, read to sent: last {} ms, max {} ms; waiting in the FIFO: last {} ms, max {} ms",
        n("last_latency_ms"),
        n("max_latency_ms"),
        n("fifo_backlog_ms"),
        n("max_fifo_backlog_ms")
    );
    let mic = &data["microphone"];
    match mic.is_null() {
        true => println!("microphone: none (pactl is needed)"),
        false => println!(
            "microphone: source {} ({} Hz mono), {}; {} bytes in, {} dropped",
            mic["source"].as_str().unwrap_or("-"),
            mic["rate"],
            if mic["recording"] == Value::Bool(true) { "an app records" } else { "nobody records" },
            mic["bytes_in"],
            mic["bytes_dropped"]
        ),
    }
}

fn print_human(request: &Request, data: &Value) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    match request {
        Request::Windows => {
            for w in data.as_array().into_iter().flatten() {
                println!(
                    "{:>4} {:<8} {:<10} {}x{}+{}+{} on {} @{} pid {} parent {} app_id {:?} {:?}{}",
                    s(&w["id"]),
                    s(&w["kind"]),
                    s(&w["state"]),
                    s(&w["width"]),
                    s(&w["height"]),
                    s(&w["x"]),
                    s(&w["y"]),
                    s(&w["output"]),
                    s(&w["scale"]),
                    s(&w["pid"]),
                    s(&w["parent"]),
                    s(&w["app_id"]),
                    s(&w["title"]),
                    if w["activated"] == Value::Bool(true) { " (active)" } else { "" },
                );
            }
        }
        Request::Outputs => {
            for o in data.as_array().into_iter().flatten() {
                let l = &o["logical"];
                println!(
                    "{}: {}x{} at {},{} (physical), logical {}x{} at {},{}, scale {}, {} Hz",
                    s(&o["name"]),
                    s(&o["width"]),
                    s(&o["height"]),
                    s(&o["x"]),
                    s(&o["y"]),
                    s(&l["width"]),
                    s(&l["height"]),
                    s(&l["x"]),
                    s(&l["y"]),
                    s(&o["scale"]),
                    s(&o["refresh"]),
                );
            }
        }
        Request::Clients => {
            for c in data.as_array().into_iter().flatten() {
                println!(
                    "pid {} {} windows {}{}",
                    s(&c["pid"]),
                    s(&c["command"]),
                    s(&c["windows"]),
                    if c["sandbox"].is_null() { String::new() } else { format!(" sandboxed {}", c["sandbox"]) }
                );
            }
        }
        Request::Version => {
            println!("wayrail {}", s(&data["version"]));
            println!("WAYLAND_DISPLAY={}", s(&data["wayland_socket"]));
            println!("DISPLAY={}", s(&data["x11_display"]));
            if !data["transport"].is_null() {
                println!("host connected; window pixels: {}", s(&data["transport"]));
            }
        }
        Request::Screenshot { .. } => println!("{} ({}x{})", s(&data["path"]), s(&data["width"]), s(&data["height"])),
        Request::Window { .. } | Request::Input { .. } => {}
    }
}
