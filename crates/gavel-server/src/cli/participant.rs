//! `gavel participant …`.

use super::output::{self, text};
use super::{json_arg, Remote};
use clap::Subcommand;
use gavel_client::ApiError;
use serde_json::{Map, Value};

#[derive(Subcommand)]
pub enum ParticipantCmd {
    /// List everyone in ROOM (hidden participants included).
    List {
        room: String,
    },
    /// One participant.
    Get {
        room: String,
        identity: String,
    },
    /// Mute a source (or, with --unmute, remote-unmute it under the room's policy).
    Mute {
        room: String,
        identity: String,
        #[arg(long, default_value = "microphone")]
        source: String,
        #[arg(long)]
        unmute: bool,
    },
    /// Ask the participant to turn a source on; --wait SECONDS waits for the answer.
    RequestMedia {
        room: String,
        identity: String,
        #[arg(long, default_value = "microphone")]
        source: String,
        #[arg(long)]
        wait: Option<u64>,
    },
    /// Remove from the room; --ban SECONDS keeps the identity out.
    Kick {
        room: String,
        identity: String,
        #[arg(long)]
        ban: Option<u64>,
    },
    Pin {
        room: String,
        identity: String,
    },
    Unpin {
        room: String,
        identity: String,
    },
    /// Move to another room.
    Move {
        room: String,
        identity: String,
        #[arg(long)]
        to: String,
    },
    /// Change role, name, metadata, permissions (JSON patch) or attributes (JSON object).
    Update {
        room: String,
        identity: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        permissions: Option<String>,
        #[arg(long)]
        attributes: Option<String>,
    },
}

const HEADERS: [&str; 5] = ["IDENTITY", "NAME", "ROLE", "TRACKS", "SPEAKING"];

fn row(p: &Value) -> Vec<String> {
    let hidden = if p["permissions"]["hidden"] == true {
        " (hidden)"
    } else {
        ""
    };
    vec![
        format!("{}{hidden}", text(&p["identity"])),
        text(&p["name"]),
        text(&p["role"]),
        output::tracks(p),
        format!("{} s", p["speaking_time_ms"].as_u64().unwrap_or(0) / 1000),
    ]
}

pub async fn run(cmd: ParticipantCmd, remote: &Remote) -> Result<(), ApiError> {
    let api = remote.client();
    let json = remote.json;
    match cmd {
        ParticipantCmd::List { room } => {
            let v = api.list_participants(&room).await?;
            let rows = v["participants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(row)
                .collect();
            output::print(json, &v, &HEADERS, rows);
        }
        ParticipantCmd::Get { room, identity } => {
            let v = api.get_participant(&room, &identity).await?;
            output::print(json, &v, &HEADERS, vec![row(&v["participant"])]);
        }
        ParticipantCmd::Mute {
            room,
            identity,
            source,
            unmute,
        } => {
            let v = api.mute(&room, &identity, &source, !unmute).await?;
            let msg = match v["request_id"].as_str() {
                Some(id) => format!("asked {identity} to unmute (request {id})"),
                None => format!("{} track(s) changed", text(&v["changed"])),
            };
            output::done(json, &v, &msg);
        }
        ParticipantCmd::RequestMedia {
            room,
            identity,
            source,
            wait,
        } => {
            let v = api.request_media(&room, &identity, &source, wait).await?;
            let msg = format!("request {}: {}", text(&v["request_id"]), text(&v["status"]));
            output::done(json, &v, &msg);
        }
        ParticipantCmd::Kick {
            room,
            identity,
            ban,
        } => {
            let v = api.remove(&room, &identity, ban).await?;
            // The server says whether the identity was present: a ban of someone absent is
            // still a ban, but nobody was kicked.
            let removed = v["removed"].as_bool().unwrap_or(true);
            let msg = match (removed, ban) {
                (true, Some(s)) => format!("kicked {identity} and banned them for {s} s"),
                (true, None) => format!("kicked {identity}"),
                (false, Some(s)) => {
                    format!("{identity} was not in {room}; banned them from it for {s} s")
                }
                (false, None) => format!("{identity} was not in {room}"),
            };
            output::done(json, &v, &msg);
        }
        ParticipantCmd::Pin { room, identity } => {
            let v = api.pin(&room, &identity).await?;
            output::done(json, &v, &format!("pinned {identity}"));
        }
        ParticipantCmd::Unpin { room, identity } => {
            let v = api.unpin(&room, &identity).await?;
            output::done(json, &v, &format!("unpinned {identity}"));
        }
        ParticipantCmd::Move { room, identity, to } => {
            let v = api.move_participant(&room, &identity, &to).await?;
            output::done(json, &v, &format!("moved {identity} to {to}"));
        }
        ParticipantCmd::Update {
            room,
            identity,
            role,
            name,
            metadata,
            permissions,
            attributes,
        } => {
            let mut body = Map::new();
            for (k, v) in [("role", role), ("name", name), ("metadata", metadata)] {
                if let Some(v) = v {
                    body.insert(k.into(), Value::String(v));
                }
            }
            if let Some(p) = permissions {
                body.insert("permissions".into(), json_arg("permissions", &p)?);
            }
            if let Some(a) = attributes {
                body.insert("attributes".into(), json_arg("attributes", &a)?);
            }
            let v = api
                .update_participant(&room, &identity, Value::Object(body))
                .await?;
            output::print(json, &v, &HEADERS, vec![row(&v["participant"])]);
        }
    }
    Ok(())
}
