//! `wayraild`: the supervisor that brings up the Linux side in one command, as WSLg's WSLGd
//! does: the runtime directory and the RDP listening sockets (handed to wayrail as `fd:N`),
//! wayrail itself (ready when it says so, over `NOTIFY_SOCKET`), the sockets projected where
//! apps look for them, the environment apps need, an audio server and the host's RDP client,
//! each restarted when it dies. `wayraild status` and `wayraild env` ask the running one.

mod children;
mod config;
mod daemon;
mod gpu;
mod project;
mod sockets;

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "wayraild",
    version,
    about = "Starts wayrail with its sockets, environment and helpers, and restarts what dies"
)]
struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/wayrail/config.toml); `[supervisor]` is ours,
    /// the rest is wayrail's (it gets the same file).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The apps' runtime directory (`[supervisor] runtime_dir`).
    #[arg(long, global = true, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Default)]
struct RunArgs {
    /// An RDP listener (`tcp:HOST:PORT`, `unix:PATH`, `vsock:CID:PORT`); repeatable; replaces
    /// `[supervisor] listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// The wayrail program.
    #[arg(long, value_name = "PATH")]
    wayrail: Option<PathBuf>,
    /// Do not start the host client even if one is configured.
    #[arg(long)]
    no_host_client: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the supervisor (the default).
    Run(RunArgs),
    /// Ask the running wayraild about its children, sockets and GPU.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Print `export` lines of the environment apps need (for shells and profile.d).
    Env,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Status { json }) => status(cli.config, cli.runtime_dir, json),
        Some(Command::Env) => env(cli.config, cli.runtime_dir),
        Some(Command::Run(args)) => run(cli.config, cli.runtime_dir, args),
        None => run(cli.config, cli.runtime_dir, cli.run),
    };
    if let Err(err) = result {
        eprintln!("wayraild: {err:#}");
        std::process::exit(1);
    }
}

fn load(config: Option<PathBuf>, runtime_dir: Option<PathBuf>) -> anyhow::Result<config::Supervisor> {
    let mut sup = config::Supervisor::load(config.as_deref())?;
    if let Some(dir) = runtime_dir {
        sup.settings.runtime_dir = Some(dir.clone());
        sup.runtime_dir = dir;
    }
    Ok(sup)
}

fn run(config: Option<PathBuf>, runtime_dir: Option<PathBuf>, args: RunArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let mut sup = load(config, runtime_dir)?;
    if !args.listen.is_empty() {
        sup.listen = args
            .listen
            .iter()
            .map(|a| a.parse::<wayrail_rdp::ListenAddr>().map_err(anyhow::Error::from))
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(program) = args.wayrail {
        sup.settings.wayrail = Some(program);
    }
    if args.no_host_client {
        sup.settings.host_client = None;
    }
    daemon::Daemon::new(sup)?.run()
}

fn status(config: Option<PathBuf>, runtime_dir: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let sup = load(config, runtime_dir)?;
    let path = sup.status_socket();
    let mut stream = std::os::unix::net::UnixStream::connect(&path)
        .with_context(|| format!("no wayraild answers at {}", path.display()))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut text = String::new();
    stream.read_to_string(&mut text).context("reading the status")?;
    let status: Value = serde_json::from_str(&text).context("the status is not JSON")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", human_status(&status));
    }
    Ok(())
}

fn human_status(s: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let secs = |v: &Value| v.as_f64().map_or("-".to_owned(), |s| format!("{s:.0}s"));
    let mut out = format!(
        "wayraild pid {}, up {}, runtime dir {}\n",
        text(&s["pid"]),
        secs(&s["uptime_seconds"]),
        text(&s["runtime_dir"])
    );
    for c in s["children"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<12} {:<9} pid {:<8} up {:<6} restarts {:<3} last exit: {}\n",
            text(&c["name"]),
            text(&c["state"]),
            text(&c["pid"]),
            secs(&c["uptime_seconds"]),
            text(&c["restarts"]),
            text(&c["last_exit"])
        ));
        if !c["stopped_because"].is_null() {
            out.push_str(&format!("               stopped: {}\n", text(&c["stopped_because"])));
        }
    }
    for l in s["sockets"]["rdp"].as_array().into_iter().flatten() {
        out.push_str(&format!("  RDP on {}\n", text(l)));
    }
    for p in s["sockets"]["projected"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<12} {} -> {} ({}, repaired {} times)\n",
            text(&p["what"]),
            text(&p["path"]),
            text(&p["target"]),
            if p["ok"] == Value::Bool(true) { "ok" } else { "MISSING" },
            text(&p["repairs"])
        ));
    }
    let gpu = &s["gpu"];
    let adapters = gpu["adapters"].as_u64().map_or("adapter count unknown".to_owned(), |n| format!("{n} adapter(s)"));
    match gpu["state"].as_str() {
        Some("dxg") => out.push_str(&format!("  GPU: dxg ({adapters}), libraries {}\n", text(&gpu["libraries"]))),
        _ => out.push_str("  GPU: none\n"),
    }
    out
}

fn env(config: Option<PathBuf>, runtime_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let sup = load(config, runtime_dir)?;
    let vars = project::read_env_file(&sup.env_file()).context("is wayraild running?")?;
    print!("{}", project::export_lines(&vars));
    Ok(())
}
