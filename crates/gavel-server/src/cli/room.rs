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
    /// Who waits in the room's waiting room, oldest first.
    Waiting { room: String },
    /// Let people in from the waiting room (IDENTITIES, or everyone with --all).
    Admit {
        room: String,
        identities: Vec<String>,
        #[arg(long, conflicts_with = "identities")]
        all: bool,
    },
    /// Turn people in the waiting room away (IDENTITIES, or everyone with --all).
    Deny {
        room: String,
        identities: Vec<String>,
        #[arg(long, conflicts_with = "identities")]
        all: bool,
        /// What they are told.
        #[arg(long)]
        message: Option<String>,
        /// Also ban them for this many seconds.
        #[arg(long)]
        ban: Option<u64>,
    },
    /// Breakout rooms of ROOM: open, close, or message them all.
    Breakouts {
        room: String,
        #[command(subcommand)]
        action: BreakoutCmd,
    },
    /// Turn the waiting room on or off (off lets everyone waiting in).
    WaitingRoom {
        room: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

#[derive(Subcommand)]
pub enum BreakoutCmd {
    /// Open COUNT rooms (everyone but hosts spread over them in turn), or as --plan says.
    Open {
        #[arg(long, conflicts_with = "plan")]
        count: Option<u32>,
        /// JSON: [{"name": "...", "identities": ["..."]}, ...]
        #[arg(long)]
        plan: Option<String>,
        /// A time limit, in seconds.
        #[arg(long)]
        duration: Option<u32>,
        /// How long everyone is warned before being brought back, in seconds.
        #[arg(long)]
        countdown: Option<u32>,
    },
    /// Warn everyone, then bring them back and close the rooms.
    Close {
        #[arg(long)]
        countdown: Option<u32>,
    },
    /// A message to everyone in every breakout room.
    Broadcast { message: String },
}

/// `admit` / `deny` need IDENTITIES or --all: an empty list alone would mean everyone.
fn chosen(identities: &[String], all: bool) -> Result<Vec<&str>, ApiError> {
    if identities.is_empty() && !all {
        return Err(ApiError {
            status: 0,
            error: gavel_client::core::Error::invalid("name the identities, or pass --all"),
        });
    }
    Ok(identities.iter().map(String::as_str).collect())
}

/// Per-identity results of an admit or a denial, as lines.
fn results(v: &Value, verb: &str) -> String {
    let Some(results) = v["results"].as_object() else {
        return format!("{verb} nobody");
    };
    let lines: Vec<String> = results
        .iter()
        .map(|(identity, r)| match r["ok"].as_bool() {
            Some(true) => format!("{verb} {identity}"),
            _ => format!("{identity}: {}", text(&r["error"]["message"])),
        })
        .collect();
    match lines.is_empty() {
        true => format!("{verb} nobody (nobody was waiting)"),
        false => lines.join("\n"),
    }
}

fn room_row(r: &Value) -> Vec<String> {
    vec![
        text(&r["name"]),
        text(&r["counts"]["present"]),
        text(&r["counts"]["hidden"]),
        r["counts"]["waiting"].as_u64().unwrap_or(0).to_string(),
        text(&r["pinned"]),
        text(&r["settings"]["remote_unmute"]),
        match r["settings"]["locked"].as_bool() {
            Some(true) => "locked".into(),
            _ => "-".into(),
        },
        text(&r["settings"]["host_left"]["action"]),
    ]
}

const ROOM_HEADERS: [&str; 8] = [
    "ROOM",
    "PRESENT",
    "HIDDEN",
    "WAITING",
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
        RoomCmd::Waiting { room } => {
            let v = api.waiting(&room).await?;
            let now = now_ms();
            let rows = v["waiting"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|w| {
                    let since = w["since"].as_u64().unwrap_or(now);
                    let until = w["until"].as_u64().unwrap_or(now);
                    vec![
                        text(&w["identity"]),
                        text(&w["name"]),
                        text(&w["role"]),
                        format!("{}s", now.saturating_sub(since) / 1000),
                        format!("{}s", until.saturating_sub(now) / 1000),
                    ]
                })
                .collect();
            let headers = ["IDENTITY", "NAME", "ROLE", "WAITING FOR", "TIMES OUT IN"];
            output::print(remote.json, &v, &headers, rows);
        }
        RoomCmd::Admit {
            room,
            identities,
            all,
        } => {
            let v = api.admit(&room, &chosen(&identities, all)?).await?;
            output::done(remote.json, &v, &results(&v, "admitted"));
        }
        RoomCmd::Deny {
            room,
            identities,
            all,
            message,
            ban,
        } => {
            let who = chosen(&identities, all)?;
            let v = api.deny(&room, &who, message.as_deref(), ban).await?;
            output::done(remote.json, &v, &results(&v, "denied"));
        }
        RoomCmd::Breakouts { room, action } => breakouts(&api, remote, &room, action).await?,
        RoomCmd::WaitingRoom { room, state } => {
            let v = api.set_waiting_room(&room, state == "on").await?;
            output::done(remote.json, &v, &format!("waiting room {state} in {room}"));
        }
    }
    Ok(())
}

async fn breakouts(
    api: &gavel_client::ApiClient,
    remote: &Remote,
    room: &str,
    action: BreakoutCmd,
) -> Result<(), ApiError> {
    match action {
        BreakoutCmd::Open {
            count,
            plan,
            duration,
            countdown,
        } => {
            let mut body = json!({
                "count": count,
                "duration_seconds": duration,
                "countdown_seconds": countdown,
            });
            if let Some(plan) = plan {
                body["rooms"] = json_arg("plan", &plan)?;
            }
            let v = api.open_breakouts(room, body).await?;
            let rows = v["rooms"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let ids: Vec<String> = r["identities"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| {
                            let id = text(i);
                            match v["moved"][&id]["ok"].as_bool() {
                                Some(false) => format!(
                                    "{id} (not moved: {})",
                                    text(&v["moved"][&id]["error"]["message"])
                                ),
                                _ => id,
                            }
                        })
                        .collect();
                    vec![text(&r["name"]), ids.join(", ")]
                })
                .collect();
            output::print(remote.json, &v, &["BREAKOUT ROOM", "PARTICIPANTS"], rows);
        }
        BreakoutCmd::Close { countdown } => {
            let v = api.close_breakouts(room, countdown).await?;
            output::done(
                remote.json,
                &v,
                &format!("closing the breakout rooms of {room}"),
            );
        }
        BreakoutCmd::Broadcast { message } => {
            let v = api.broadcast_to_breakouts(room, &message).await?;
            output::done(remote.json, &v, "sent to every breakout room");
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
