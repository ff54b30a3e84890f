//! The `gavel` binary.

use clap::{Parser, Subcommand};
use gavel_server::config::Config;
use gavel_server::{dev, Server};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(
    name = "gavel",
    version,
    about = "A self-hosted meeting server built around participant management"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server with the given API key and secret (secret: at least 32 bytes).
    Serve {
        #[arg(long, env = "GAVEL_BIND", default_value = "127.0.0.1:7880")]
        bind: SocketAddr,
        #[arg(long, env = "GAVEL_API_KEY")]
        api_key: Option<String>,
        #[arg(long, env = "GAVEL_API_SECRET", hide_env_values = true)]
        api_secret: Option<String>,
    },
    /// Run a development server: key `devkey`, secret `secret`, tokens printed on start-up.
    Dev {
        #[arg(long, env = "GAVEL_BIND", default_value = "127.0.0.1:7880")]
        bind: SocketAddr,
    },
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = match cli.command {
        Cmd::Serve {
            bind,
            api_key,
            api_secret,
        } => {
            let mut c = Config::dev(bind);
            c.dev = false;
            c.keys.clear();
            if let (Some(k), Some(s)) = (api_key, api_secret) {
                c.keys.insert(k, s);
            }
            c
        }
        Cmd::Dev { bind } => Config::dev(bind),
    };
    if let Err(e) = config.validate() {
        eprintln!("gavel: {e}");
        std::process::exit(2);
    }
    let is_dev = config.dev;
    let server = match Server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gavel: cannot start: {e}");
            std::process::exit(1);
        }
    };
    if is_dev {
        print_dev_banner(server.addr);
    }
    tracing::info!(addr = %server.addr, "listening");
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown(std::time::Duration::from_secs(5)).await;
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

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
