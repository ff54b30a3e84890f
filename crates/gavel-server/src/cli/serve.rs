//! `gavel serve` and `gavel dev`: run the server until SIGTERM or Ctrl-C.

use gavel_server::config::Config;
use gavel_server::{dev, Server};
use std::net::SocketAddr;

pub async fn serve(bind: SocketAddr, api_key: Option<String>, api_secret: Option<String>) -> i32 {
    let mut config = Config::dev(bind);
    config.dev = false;
    config.keys.clear();
    if let (Some(k), Some(s)) = (api_key, api_secret) {
        config.keys.insert(k, s);
    }
    run(config).await
}

pub async fn dev(bind: SocketAddr) -> i32 {
    run(Config::dev(bind)).await
}

async fn run(config: Config) -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
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
    tracing::info!(addr = %server.addr, "listening");
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown(std::time::Duration::from_secs(5)).await;
    0
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
