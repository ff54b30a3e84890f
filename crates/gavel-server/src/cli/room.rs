//! `gavel room …` and `gavel bans`.

use super::output::{self, text, time};
use super::{json_arg, Remote};
use clap::Subcommand;
use gavel_client::ApiError;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum RoomCmd {
    /// List rooms.
    List,
    /// Create a room; settings as JSON, e.g. '{"remote_unmute":"force"}'.
    Create {
        name: String,
        #[arg(long)]
        settings: Option<String>,
    },
    /// Delete a room (everyone in it is disconnected).
    Delete { name: String },
    /// Mute one source for everyone but EXCEPT.
    MuteAll {
        room: String,
        #[arg(long, default_value = "microphone")]
        source: String,
        /// Identities to leave alone, comma-separated.
        #[arg(long, value_delimiter = ',')]
        except: Vec<String>,
    },
    /// End the session: everyone leaves.
    End { room: String },
    /// Lock the room: nobody new comes in (tokens with `bypassLock` excepted).
    Lock { room: String },
    /// Unlock the room.
    Unlock { room: String },
}

fn room_row(r: &Value) -> Vec<String> {
    vec![
        text(&r["name"]),
        text(&r["counts"]["present"]),
        text(&r["counts"]["hidden"]),
        text(&r["pinned"]),
        text(&r["settings"]["remote_unmute"]),
        match r["settings"]["locked"].as_bool() {
            Some(true) => "locked".into(),
            _ => "-".into(),
        },
        text(&r["settings"]["host_left"]["action"]),
    ]
}

const ROOM_HEADERS: [&str; 7] = [
    "ROOM",
    "PRESENT",
    "HIDDEN",
    "PINNED",
    "REMOTE UNMUTE",
    "LOCK",
    "HOST LEFT",
];

pub async fn run(cmd: RoomCmd, remote: &Remote) -> Result<(), ApiError> {
    let api = remote.client();
    match cmd {
        RoomCmd::List => {
            let v = api.list_rooms().await?;
            let rows = v["rooms"]
                .as_array()
                .into_iter()
                .flatten()
                .map(room_row)
                .collect();
            output::print(remote.json, &v, &ROOM_HEADERS, rows);
        }
        RoomCmd::Create { name, settings } => {
            let settings = match settings {
                Some(s) => json_arg("settings", &s)?,
                None => json!({}),
            };
            let v = api.create_room(&name, settings).await?;
            output::print(remote.json, &v, &ROOM_HEADERS, vec![room_row(&v["room"])]);
        }
        RoomCmd::Delete { name } => {
            let v = api.delete_room(&name).await?;
            output::done(remote.json, &v, &format!("deleted room {name}"));
        }
        RoomCmd::MuteAll {
            room,
            source,
            except,
        } => {
            let except: Vec<&str> = except.iter().map(String::as_str).collect();
            let v = api.mute_all(&room, &source, &except).await?;
            output::done(
                remote.json,
                &v,
                &format!("muted {} track(s)", text(&v["changed"])),
            );
        }
        RoomCmd::End { room } => {
            let v = api.end_session(&room).await?;
            output::done(remote.json, &v, &format!("ended the session in {room}"));
        }
        RoomCmd::Lock { room } => {
            let v = api.lock_room(&room, true).await?;
            output::done(remote.json, &v, &format!("locked {room}"));
        }
        RoomCmd::Unlock { room } => {
            let v = api.lock_room(&room, false).await?;
            output::done(remote.json, &v, &format!("unlocked {room}"));
        }
    }
    Ok(())
}

pub async fn bans(room: &str, lift: Option<String>, remote: &Remote) -> Result<(), ApiError> {
    let api = remote.client();
    if let Some(identity) = lift {
        let v = api.lift_ban(room, &identity).await?;
        output::done(remote.json, &v, &format!("lifted the ban on {identity}"));
        return Ok(());
    }
    let v = api.list_bans(room).await?;
    let rows = v["bans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let left = b["until"].as_u64().unwrap_or(0).saturating_sub(now_ms()) / 1000;
            vec![text(&b["identity"]), format!("{left} s"), text(&b["by"])]
        })
        .collect();
    output::print(remote.json, &v, &["IDENTITY", "REMAINING", "BY"], rows);
    Ok(())
}

pub async fn audit(room: &str, limit: usize, remote: &Remote) -> Result<(), ApiError> {
    let v = remote.client().audit(room, limit).await?;
    let rows = v["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let targets: Vec<String> = e["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            vec![
                time(&e["at"]),
                text(&e["actor"]),
                text(&e["action"]),
                targets.join(","),
                text(&e["outcome"]),
            ]
        })
        .collect();
    output::print(
        remote.json,
        &v,
        &["TIME (UTC)", "ACTOR", "ACTION", "TARGETS", "OUTCOME"],
        rows,
    );
    Ok(())
}

pub async fn sessions(room: &str, limit: usize, remote: &Remote) -> Result<(), ApiError> {
    let v = remote.client().sessions(room, limit).await?;
    let rows = v["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let ms = |k: &str| s[k].as_u64().unwrap_or(0);
            vec![
                text(&s["identity"]),
                time(&s["joined_at"]),
                format!(
                    "{} s",
                    (ms("left_at").saturating_sub(ms("joined_at"))) / 1000
                ),
                format!("{} s", ms("speaking_time_ms") / 1000),
                text(&s["reason"]),
            ]
        })
        .collect();
    output::print(
        remote.json,
        &v,
        &[
            "IDENTITY",
            "JOINED (UTC)",
            "STAYED",
            "SPOKE",
            "LEFT BECAUSE",
        ],
        rows,
    );
    Ok(())
}

fn now_ms() -> u64 {
    gavel_server::clock::now_ms()
}
