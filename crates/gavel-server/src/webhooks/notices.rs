//! Which of a room's outputs are webhook events, and what each says. The room actor calls
//! [`from_output`] for every output while it routes them (only when an endpoint is
//! configured), so webhooks follow the room's one order of events.
//!
//! Sessions come from the core's `SessionStarted` / `SessionEnded` outputs, not from the
//! events clients see: hidden and unlisted participants are reported too. A room-wide mute is
//! one `track_muted` with `gavel.all: true` (as clients see it), never one per track.

use super::config::Kind;
use super::payload::{self, Notice, Parts};
use crate::store::audit_policy;
use gavel_core::{Audience, Event, Millis, Output, Room};
use serde_json::json;

pub fn from_output(room: &Room, out: &Output, now: Millis) -> Option<Notice> {
    let name = room.name();
    match out {
        Output::SessionStarted {
            participant,
            moved_from,
        } => Some(payload::notice(
            name,
            Kind::ParticipantJoined,
            now,
            Parts {
                participant: Some(participant),
                gavel: json!({ "sid": participant.sid, "role": participant.role, "moved_from": moved_from }),
                ..Default::default()
            },
        )),
        Output::SessionEnded {
            participant,
            reason,
            by,
        } => Some(payload::notice(
            name,
            Kind::ParticipantLeft,
            now,
            Parts {
                participant: Some(participant),
                left: Some(*reason),
                gavel: json!({ "sid": participant.sid, "reason": reason, "by": by }),
                ..Default::default()
            },
        )),
        Output::HostAction {
            actor,
            action,
            targets,
            command,
            outcome: Ok(()),
        } => Some(payload::notice(
            name,
            Kind::HostAction,
            now,
            Parts {
                // Bounded as its audit entry is (`audit_policy`).
                gavel: json!({
                    "actor": actor,
                    "action": action,
                    "targets": audit_policy::bound_targets(targets.clone(), audit_policy::STRING_MAX),
                    "params": audit_policy::bound_params(
                        serde_json::to_value(command).unwrap_or_default(),
                        audit_policy::STRING_MAX,
                        audit_policy::PARAMS_MAX,
                    ),
                }),
                ..Default::default()
            },
        )),
        Output::Event { to, event } => track_event(room, to, event, now),
        _ => None,
    }
}

fn track_event(room: &Room, to: &Audience, event: &Event, now: Millis) -> Option<Notice> {
    let name = room.name();
    match event {
        Event::TrackPublished { identity, track } => Some(payload::notice(
            name,
            Kind::TrackPublished,
            now,
            Parts {
                participant: room.participant(identity),
                track: Some(payload::track(track)),
                gavel: json!({ "identity": identity, "source": track.source }),
                ..Default::default()
            },
        )),
        Event::TrackUnpublished {
            identity,
            track_sid,
            source,
            reason,
        } => Some(payload::notice(
            name,
            Kind::TrackUnpublished,
            now,
            Parts {
                participant: room.participant(identity),
                track: Some(payload::track_ref(track_sid, *source)),
                gavel: json!({ "identity": identity, "source": source, "reason": reason }),
                ..Default::default()
            },
        )),
        // A room-wide mute goes to each session alone only in a rare case (see
        // `mute_all_unchecked`); its `host_action` event reports it then.
        Event::TrackMuted { all: true, .. } if *to != Audience::Everyone => None,
        Event::TrackMuted {
            identity,
            track_sid,
            source,
            muted,
            by,
            all,
            except,
        } => {
            let participant = identity.as_deref().and_then(|i| room.participant(i));
            let track = match (participant, track_sid) {
                (Some(p), Some(sid)) => p.tracks.iter().find(|t| t.sid == *sid).map(payload::track),
                (_, Some(sid)) => Some(payload::track_ref(sid, *source)),
                _ => None,
            };
            Some(payload::notice(
                name,
                Kind::TrackMuted,
                now,
                Parts {
                    participant,
                    track,
                    gavel: json!({
                        "identity": identity,
                        "source": source,
                        "muted": muted,
                        "by": by,
                        "all": all,
                        "except": except,
                    }),
                    ..Default::default()
                },
            ))
        }
        Event::HandChanged {
            identity,
            raised,
            by,
        } => Some(payload::notice(
            name,
            Kind::HandChanged,
            now,
            Parts {
                participant: room.participant(identity),
                gavel: json!({ "identity": identity, "raised": raised, "by": by }),
                ..Default::default()
            },
        )),
        Event::StageChanged {
            identity,
            on_stage,
            by,
        } => Some(payload::notice(
            name,
            Kind::StageChanged,
            now,
            Parts {
                participant: room.participant(identity),
                gavel: json!({ "identity": identity, "on_stage": on_stage, "by": by }),
                ..Default::default()
            },
        )),
        Event::BreakoutsOpened { rooms, ends_at, by } => Some(payload::notice(
            name,
            Kind::BreakoutsOpened,
            now,
            Parts {
                // At most 50 rooms, their identities people present in this room.
                gavel: json!({ "rooms": rooms, "ends_at": ends_at, "by": by }),
                ..Default::default()
            },
        )),
        Event::BreakoutsClosed => Some(payload::notice(
            name,
            Kind::BreakoutsClosed,
            now,
            Parts {
                gavel: json!({
                    "rooms": room.settings().breakouts.as_ref().map(|b| b.rooms.clone()),
                }),
                ..Default::default()
            },
        )),
        Event::WaiterAdded { waiter } => Some(payload::notice(
            name,
            Kind::WaiterAdded,
            now,
            Parts {
                gavel: json!({ "waiter": waiter }),
                ..Default::default()
            },
        )),
        Event::WaitersRemoved {
            identities,
            outcome,
            by,
        } => Some(payload::notice(
            name,
            Kind::WaitersRemoved,
            now,
            Parts {
                // At most `max_waiting` identities, each bounded by the identity rules.
                gavel: json!({ "identities": identities, "outcome": outcome, "by": by }),
                ..Default::default()
            },
        )),
        _ => None,
    }
}

/// `room_started` / `room_finished`.
pub fn room(name: &str, kind: Kind, now: Millis) -> Notice {
    payload::notice(name, kind, now, Parts::default())
}
