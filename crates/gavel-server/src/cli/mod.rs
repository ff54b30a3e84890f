//! Command-line interface. `serve` and `dev` run a server; every other command talks to a
//! running server through the HTTP server API (with `gavel-client`), like LiveKit's `lk`.

mod output;
mod participant;
mod room;
mod serve;
mod store;
mod token;
mod webhooks;

use clap::{Args, Parser, Subcommand};
use gavel_client::{AccessToken, ApiClient, ApiError};
use std::net::SocketAddr;
use std::path::PathBuf;

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

/// How operator commands reach the server.
#[derive(Args, Clone)]
pub struct Remote {
    /// The server's HTTP URL.
    #[arg(
        long,
        global = true,
        env = "GAVEL_URL",
        default_value = "http://127.0.0.1:7880"
    )]
    pub url: String,
    /// API key (defaults to the development key).
    #[arg(long, global = true, env = "GAVEL_API_KEY", default_value = "devkey")]
    pub api_key: String,
    /// API secret (defaults to the development secret).
    #[arg(
        long,
        global = true,
        env = "GAVEL_API_SECRET",
        default_value = "secret",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub api_secret: String,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Remote {
    /// A client holding a short-lived token with every server-API grant.
    pub fn client(&self) -> ApiClient {
        let token = AccessToken::new(&self.api_key, &self.api_secret)
            .identity("cli")
            .admin(None)
            .ttl(600)
            .to_jwt();
        ApiClient::new(&self.url, &token)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server with the given API key and secret (secret: at least 32 bytes).
    Serve {
        /// Listen address (default: the file's `bind`, else 127.0.0.1:7880).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// API key: the issuer of the tokens it accepts (or GAVEL_API_KEY; needs --api-secret).
        #[arg(long)]
        api_key: Option<String>,
        /// Secret for --api-key, at least 32 bytes (or GAVEL_API_SECRET).
        #[arg(long, hide_env_values = true)]
        api_secret: Option<String>,
        /// Configuration file (default: ./gavel.toml when it exists).
        #[arg(long, env = "GAVEL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run a development server: key `devkey`, secret `secret`, tokens printed on start-up.
    Dev {
        /// Listen address (default: the file's `bind`, else 127.0.0.1:7880).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Configuration file (default: ./gavel.toml when it exists); the development key is
        /// accepted besides any the file lists.
        #[arg(long, env = "GAVEL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Mint access tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// Rooms: list, create, delete, mute-all, end.
    Room {
        #[command(subcommand)]
        command: room::RoomCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// Participants: list, get, mute, request-media, kick, pin, unpin, move, update.
    Participant {
        #[command(subcommand)]
        command: participant::ParticipantCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// A room's moderation audit log, newest first.
    Audit {
        room: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// A room's session history, newest first.
    Sessions {
        room: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// The durable store: `migrate` copies SQLite data into PostgreSQL.
    Store {
        #[command(subcommand)]
        command: store::StoreCmd,
    },
    /// Webhook endpoints: list, add, remove, deliveries, test, replay.
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCmd,
        #[command(flatten)]
        remote: Remote,
    },
    /// A room's active bans (`--lift IDENTITY` to lift one).
    Bans {
        room: String,
        #[arg(long)]
        lift: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let result = match cli.command {
            Cmd::Serve {
                bind,
                api_key,
                api_secret,
                config,
            } => {
                let key = api_key.zip(api_secret);
                return serve::run(config, bind, key, false).await;
            }
            Cmd::Dev { bind, config } => return serve::run(config, bind, None, true).await,
            Cmd::Token { command, remote } => token::run(command, &remote),
            Cmd::Room { command, remote } => room::run(command, &remote).await,
            Cmd::Participant { command, remote } => participant::run(command, &remote).await,
            Cmd::Bans { room, lift, remote } => room::bans(&room, lift, &remote).await,
            Cmd::Store { command } => store::run(command).await,
            Cmd::Webhooks { command, remote } => webhooks::run(command, &remote).await,
            Cmd::Audit {
                room,
                limit,
                remote,
            } => room::audit(&room, limit, &remote).await,
            Cmd::Sessions {
                room,
                limit,
                remote,
            } => room::sessions(&room, limit, &remote).await,
        };
        match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("gavel: {}", describe(&e));
                1
            }
        }
    })
}

/// The server's error as an operator reads it.
fn describe(e: &ApiError) -> String {
    if e.status == 0 {
        e.error.message.clone()
    } else {
        format!("{} ({})", e.error.message, e.error.code.as_str())
    }
}

/// A flag value that must be JSON.
pub fn json_arg(name: &str, text: &str) -> Result<serde_json::Value, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError {
        status: 0,
        error: gavel_client::core::Error::invalid(format!("--{name} is not valid JSON: {e}")),
    })
}
