//! `gavel token create`: mint an access token with the configured key and secret.

use super::Remote;
use clap::Subcommand;
use gavel_client::{AccessToken, ApiError};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Print a token that joins ROOM as IDENTITY.
    Create {
        #[arg(long)]
        room: String,
        #[arg(long)]
        identity: String,
        /// host, participant, viewer, observer, or a custom role.
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// Also grant the server API (roomAdmin for ROOM).
        #[arg(long)]
        admin: bool,
    },
}

pub fn run(cmd: TokenCmd, remote: &Remote) -> Result<(), ApiError> {
    let TokenCmd::Create {
        room,
        identity,
        role,
        name,
        ttl,
        admin,
    } = cmd;
    let mut t = AccessToken::new(&remote.api_key, &remote.api_secret)
        .join(&room, &identity)
        .ttl(ttl);
    if let Some(r) = role {
        t = t.role(&r);
    }
    if let Some(n) = name {
        t = t.name(&n);
    }
    if admin {
        t = t.grant(|g| g.room_admin = Some(true));
    }
    let jwt = t.to_jwt();
    if remote.json {
        println!("{}", serde_json::json!({ "token": jwt }));
    } else {
        println!("{jwt}");
    }
    Ok(())
}
