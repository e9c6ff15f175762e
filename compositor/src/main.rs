//! `wayrail`: runs the compositor, or (`wayrail msg ...`) talks to a running one.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

use wayrail_compositor::config::{BackendKind, Config, OutputSpec, XwaylandMode};
use wayrail_compositor::ipc::{self, Request, WindowOp};
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
    /// Where the desktop goes.
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
    /// Write a PNG of an output (default: the first) or of one window.
    Screenshot {
        path: PathBuf,
        #[arg(long, conflicts_with = "window")]
        output: Option<String>,
        #[arg(long)]
        window: Option<u32>,
    },
    /// Operate on a window: focus, close, maximize, unmaximize, minimize, restore, move X Y, resize W H.
    Window {
        id: u32,
        op: String,
        #[arg(allow_hyphen_values = true)]
        args: Vec<i32>,
    },
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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
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
    if !args.outputs.is_empty() {
        config.outputs = args.outputs;
    }
    let mut server = Server::new(ServerOptions { config, runtime_dir: None })?;
    println!("wayrail is running: WAYLAND_DISPLAY={}", server.socket_name);
    println!("  try: WAYLAND_DISPLAY={} foot   |   wayrail msg windows", server.socket_name);
    server.run()
}

fn msg(json: bool, what: MsgCommand) -> anyhow::Result<()> {
    let request = match what {
        MsgCommand::Version => Request::Version,
        MsgCommand::Windows => Request::Windows,
        MsgCommand::Outputs => Request::Outputs,
        MsgCommand::Clients => Request::Clients,
        MsgCommand::Screenshot { path, output, window } => {
            let path = if path.is_absolute() { path } else { std::env::current_dir()?.join(path) };
            Request::Screenshot { path, output, window }
        }
        MsgCommand::Window { id, op, args } => Request::Window { id, op: parse_op(&op, &args)? },
    };
    let kind = request.clone();
    let data = ipc::send(&ipc::find_socket()?, &request)?;
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
        }
        Request::Screenshot { .. } => println!("{} ({}x{})", s(&data["path"]), s(&data["width"]), s(&data["height"])),
        Request::Window { .. } => {}
    }
}
