//! `gavel serve` and `gavel dev`: run the server until SIGTERM or Ctrl-C.

use gavel_server::{config_file, dev, Server};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Loads the configuration (file, environment, then flags) and serves until a signal.
pub async fn run(
    file: Option<PathBuf>,
    bind: Option<SocketAddr>,
    key: Option<(String, String)>,
    dev: bool,
) -> i32 {
    let default_file = Path::new("gavel.toml");
    let file = file.or_else(|| default_file.exists().then(|| default_file.to_path_buf()));
    let mut config = match config_file::load(file.as_deref(), dev) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gavel: {e}");
            return 2;
        }
    };
    if let Some(b) = bind {
        config.bind = b;
    }
    if let Some((k, s)) = key {
        config.keys.insert(k, s);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(colour_logs())
        .init();
    if let Err(e) = config.validate() {
        eprintln!("gavel: {e}");
        return 2;
    }
    let is_dev = config.dev;
    let server = match Server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gavel: cannot start: {e}");
            return 1;
        }
    };
    if is_dev {
        print_dev_banner(server.addr);
    }
    // Handlers first: a signal sent as soon as "listening" is logged must shut down gracefully.
    let signal = shutdown_signal();
    tracing::info!(addr = %server.addr, "listening");
    signal.await;
    tracing::info!("shutting down");
    server.shutdown(std::time::Duration::from_secs(5)).await;
    0
}

/// Colour only for a person at a terminal: logs piped to a file, journald or a collector must
/// not carry escape codes. `NO_COLOR` (no-color.org) turns colour off even then. The logs go to
/// stdout (the subscriber's default writer), so that is the stream asked.
fn colour_logs() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stdout().is_terminal() && !no_color
}

fn print_dev_banner(addr: SocketAddr) {
    let (key, secret) = ("devkey", "secret");
    let day = 24 * 3600;
    println!("Gavel development server on http://{addr}");
    println!("  API key:    {key}");
    println!("  API secret: {secret}");
    println!(
        "  Host token (room demo, identity host):\n    {}",
        dev::token(key, secret, "demo", "host", "host", day)
    );
    println!(
        "  Participant token (room demo, identity guest):\n    {}",
        dev::token(key, secret, "demo", "guest", "participant", day)
    );
    println!(
        "  Server API token (every room):\n    {}",
        dev::admin_token(key, secret, day)
    );
    println!("  Join: ws://{addr}/v1/rtc?access_token=<token>");
}

/// SIGTERM or Ctrl-C, with both handlers installed now (not when first awaited).
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
