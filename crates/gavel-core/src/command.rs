//! What goes into a room: commands from clients (self actions and host controls) and from the
//! server API, all through one path so authorization and events cannot diverge.

use crate::event::Counts;
use crate::participant::{ParticipantInfo, TrackInfo};
use crate::permissions::{Capabilities, PermissionsPatch, Source};
use crate::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who issues a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A connected participant, by session id (a replaced session's late commands act on nothing).
    Participant { sid: String },
    /// The backend through the server API (`roomAdmin`): holds every host control.
    Server { name: String },
}

impl Actor {
    pub fn server(name: impl Into<String>) -> Actor {
        Actor::Server { name: name.into() }
    }
}

/// One entry of a batch update (Daily's `update_remote_participants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BatchEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_audio: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_video: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_screen: Option<bool>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eject: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ban_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionsPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

/// Fields of `update_participant`; every one optional. Also the native API's
/// `PATCH …/participants/{identity}` body, so unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ParticipantUpdate {
    pub permissions: Option<PermissionsPatch>,
    pub role: Option<String>,
    pub name: Option<String>,
    pub metadata: Option<String>,
    /// Merged into the current attributes; an empty value deletes the key.
    pub attributes: Option<BTreeMap<String, String>>,
    pub capabilities: Option<Capabilities>,
}

fn yes() -> bool {
    true
}

/// A command. On the wire: `{"type": "<snake_case name>", ...fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    // --- self actions ---
    PublishTrack {
        source: Source,
        #[serde(default)]
        muted: bool,
        #[serde(default)]
        name: Option<String>,
    },
    UnpublishTrack {
        track_sid: String,
    },
    /// Announces a track the sender's next `media_offer` will carry and reserves its sid
    /// (LiveKit's AddTrackRequest, whose answer names the track before any media flows). Nobody
    /// else hears of it until the offer publishes it, with this sid, name and mute state. One
    /// per source; asking again for a source replaces the name and mute state, not the sid.
    ReserveTrack {
        source: Source,
        #[serde(default)]
        muted: bool,
        #[serde(default)]
        name: Option<String>,
    },
    SetTrackMuted {
        track_sid: String,
        muted: bool,
    },
    UpdateSelf {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        metadata: Option<String>,
        #[serde(default)]
        attributes: Option<BTreeMap<String, String>>,
    },
    /// Opens or renegotiates the sender's media session (WebRTC): `sdp` is the client's offer;
    /// its sending m-lines carry the `tracks` named here (each mid and the source it carries),
    /// its receiving m-lines are slots the server fills (`media_slots` says with what). The
    /// reply carries the answer. Only the client ever offers: offers never collide.
    MediaOffer {
        sdp: String,
        #[serde(default)]
        tracks: Vec<OfferedTrack>,
    },
    /// A trickled ICE candidate for the sender's media session (`candidate:…` as in SDP; empty
    /// at the end of candidates); `subscriber: true` for the session the server offers to
    /// (`media_subscribe`).
    MediaCandidate {
        candidate: String,
        #[serde(default)]
        subscriber: bool,
    },
    /// Opens a second media session for the sender that the server offers to (LiveKit's
    /// subscriber connection): one send-only m-line per track it may receive, plus the data
    /// channels `_reliable` and `_lossy`. Offers arrive as `media_offer` events, one at a
    /// time; each is answered with `media_answer`. Once it is open, `restart_ice` restarts its
    /// ICE (new credentials, offered at once; an offer still unanswered is withdrawn): what a
    /// client that resumed after a network blip asks for.
    MediaSubscribe {
        #[serde(default)]
        restart_ice: bool,
    },
    /// The answer to the last `media_offer` event.
    MediaAnswer {
        sdp: String,
    },
    /// What the sender receives from `identity`: `subscribed` true or false overrides the
    /// room's default (every audio track; cameras of the last-N), absent returns `sources` to it.
    UpdateSubscription {
        identity: String,
        sources: Vec<Source>,
        #[serde(default)]
        subscribed: Option<bool>,
    },
    /// The simulcast layer the sender wants of a video track it receives (`low`, `medium`,
    /// `high`); absent returns it to the default (high for the pinned participant and the
    /// active speaker, low for the rest).
    UpdateTrackSettings {
        track_sid: String,
        #[serde(default)]
        layer: Option<crate::media_rules::Layer>,
    },
    /// RFC 6464 level in -dBov: 0 is loudest, 127 silence. Ignored for a participant with a
    /// media session (its levels come from its packets).
    AudioLevel {
        level: u8,
    },
    RespondRequest {
        request_id: String,
        accept: bool,
    },
    Leave,
    Ping,
    /// An application message (LiveKit's SendData): `payload` is base64. Sent by a participant
    /// with `can_publish_data`, or by the server. Goes to `destination_identities`, or to
    /// everyone else when that is empty.
    SendData {
        payload: String,
        #[serde(default)]
        topic: Option<String>,
        #[serde(default)]
        destination_identities: Vec<String>,
        #[serde(default = "yes")]
        reliable: bool,
    },
    /// A page of the room's participants, by identity, after `after` (for the audience of a
    /// large room, whom clients are not told about one by one). Hidden ones only for the server.
    ListParticipants {
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Replaces the room's metadata; everyone gets `room_updated`. Needs `manage_participants`.
    UpdateRoomMetadata {
        metadata: String,
    },
    // --- host controls ---
    Mute {
        identity: String,
        source: Source,
        #[serde(default = "yes")]
        muted: bool,
    },
    RequestMedia {
        identity: String,
        source: Source,
    },
    MuteAll {
        source: Source,
        #[serde(default)]
        except: Vec<String>,
    },
    BatchUpdate {
        updates: BTreeMap<String, BatchEntry>,
    },
    /// Removes participants. With `ban_seconds` also bans them (an absent identity can still be
    /// banned, so someone who just left stays out); with `revoke_tokens` also voids their tokens
    /// for this room issued before `revoke_before` (ms; default now), so they need a new token.
    /// One command, so its checks run once, in one order, and its durable part (ban,
    /// revocation) is committed before anyone is removed.
    Kick {
        #[serde(default)]
        identity: Option<String>,
        #[serde(default)]
        identities: Option<Vec<String>>,
        #[serde(default)]
        ban_seconds: Option<u64>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        revoke_tokens: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revoke_before: Option<Millis>,
        /// Refuse an absent identity (`participant_not_found`, nothing changes) even when a ban
        /// or revocation would apply to it (LiveKit's RemoveParticipant).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        require_present: bool,
    },
    EndSession,
    /// Locks (or unlocks) the room: while locked nobody new joins or is moved in (a token's
    /// `bypassLock` grant and people returning from this room's child rooms excepted).
    LockRoom {
        locked: bool,
    },
    /// Lets people in from the waiting room (needs `admit`): `identities`, or everyone waiting.
    Admit {
        #[serde(default)]
        identities: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
    },
    /// Turns people in the waiting room away (needs `admit`), telling them `message`; with
    /// `ban_seconds` they are banned too.
    Deny {
        #[serde(default)]
        identities: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ban_seconds: Option<u64>,
    },
    /// Who waits, oldest first (needs `admit`).
    ListWaiting,
    /// Turns the waiting room on or off (needs `admit`); turning it off lets everyone waiting in.
    SetWaitingRoom {
        enabled: bool,
    },
    /// Opens breakout rooms from this room (needs `manage_participants`): `count` rooms with
    /// everyone but hosts spread over them in turn, or `rooms` as listed (name and who goes
    /// there). `duration_seconds`: a time limit, after which everyone is warned and, after
    /// `countdown_seconds` (default 30), brought back.
    OpenBreakouts {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rooms: Vec<BreakoutRoom>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_seconds: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        countdown_seconds: Option<u32>,
    },
    /// Closes the breakout rooms (needs `manage_participants`): everyone is warned, then
    /// brought back after `countdown_seconds` (default: the one set when they opened).
    CloseBreakouts {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        countdown_seconds: Option<u32>,
    },
    /// A message to everyone in this room and its breakout rooms (needs `manage_participants`).
    BroadcastToBreakouts {
        message: String,
    },
    /// From the server only: a parent room's breakout notice, for everyone here.
    BreakoutNotice {
        notice: BreakoutNotice,
    },
    /// From the server only: everyone is back from the breakout rooms (they are gone).
    BreakoutsReturned,
    /// Raises (or lowers) the sender's own hand.
    RaiseHand {
        #[serde(default = "yes")]
        raised: bool,
    },
    /// Lowers someone's hand (needs `stage`).
    LowerHand {
        identity: String,
    },
    /// Invites someone to the stage (needs `stage`): a consent request they answer with
    /// `respond_request`; accepting grants the room's `stage_permissions`.
    InviteToStage {
        identity: String,
    },
    /// Takes someone off the stage (needs `stage`): back to their role's permissions, tracks
    /// they may no longer send unpublished.
    RemoveFromStage {
        identity: String,
    },
    /// Mutes (or, under the room's `remote_unmute` policy, unmutes) one track by its sid
    /// (LiveKit's MutePublishedTrack). Replies with the track as it is afterwards.
    MuteTrack {
        identity: String,
        track_sid: String,
        #[serde(default = "yes")]
        muted: bool,
    },
    Pin {
        identity: String,
    },
    Unpin {
        #[serde(default)]
        identity: Option<String>,
    },
    UpdateParticipant {
        identity: String,
        #[serde(default)]
        permissions: Option<PermissionsPatch>,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        metadata: Option<String>,
        #[serde(default)]
        attributes: Option<BTreeMap<String, String>>,
        #[serde(default)]
        capabilities: Option<Capabilities>,
    },
    /// Approved by the source room; the shell then admits the participant into `destination`.
    Move {
        identity: String,
        destination: String,
    },
    LiftBan {
        identity: String,
    },
    /// Capabilities reserved for `identity` (Chime's attendee capabilities): they replace its
    /// send/receive permissions whenever it joins, and at once if it is present. Without
    /// `capabilities`, the room's defaults ([`Capabilities::defaults`]).
    SetPreset {
        identity: String,
        #[serde(default)]
        capabilities: Option<Capabilities>,
    },
    /// Gives every identity that has a preset, except those in `except`, these capabilities.
    SetPresetsExcept {
        #[serde(default)]
        except: Vec<String>,
        capabilities: Capabilities,
    },
    /// Forgets `identity`'s preset: its later joins get what its token grants.
    DropPreset {
        identity: String,
    },
    /// Voids `identity`'s tokens for this room issued before `before` (ms since the epoch;
    /// default: now). A kick alone leaves the token usable; this does not.
    RevokeTokens {
        identity: String,
        #[serde(default)]
        before: Option<Millis>,
    },
}

impl Command {
    /// The name used in audit entries and metrics.
    pub fn action(&self) -> &'static str {
        match self {
            Command::PublishTrack { .. } => "publish_track",
            Command::UnpublishTrack { .. } => "unpublish_track",
            Command::ReserveTrack { .. } => "reserve_track",
            Command::SetTrackMuted { .. } => "set_track_muted",
            Command::UpdateSelf { .. } => "update_self",
            Command::UpdateSubscription { .. } => "update_subscription",
            Command::MediaOffer { .. } => "media_offer",
            Command::UpdateTrackSettings { .. } => "update_track_settings",
            Command::MediaCandidate { .. } => "media_candidate",
            Command::MediaSubscribe { .. } => "media_subscribe",
            Command::MediaAnswer { .. } => "media_answer",
            Command::AudioLevel { .. } => "audio_level",
            Command::RespondRequest { .. } => "respond_request",
            Command::Leave => "leave",
            Command::Ping => "ping",
            Command::SendData { .. } => "send_data",
            Command::ListParticipants { .. } => "list_participants",
            Command::UpdateRoomMetadata { .. } => "update_room_metadata",
            Command::Mute { .. } => "mute",
            Command::RequestMedia { .. } => "request_media",
            Command::MuteAll { .. } => "mute_all",
            Command::BatchUpdate { .. } => "batch_update",
            Command::Kick { .. } => "kick",
            Command::RaiseHand { .. } => "raise_hand",
            Command::LowerHand { .. } => "lower_hand",
            Command::InviteToStage { .. } => "invite_to_stage",
            Command::RemoveFromStage { .. } => "remove_from_stage",
            Command::LockRoom { .. } => "lock_room",
            Command::OpenBreakouts { .. } => "open_breakouts",
            Command::CloseBreakouts { .. } => "close_breakouts",
            Command::BroadcastToBreakouts { .. } => "broadcast_to_breakouts",
            Command::BreakoutNotice { .. } => "breakout_notice",
            Command::BreakoutsReturned => "breakouts_returned",
            Command::Admit { .. } => "admit",
            Command::Deny { .. } => "deny",
            Command::ListWaiting => "list_waiting",
            Command::SetWaitingRoom { .. } => "set_waiting_room",
            Command::EndSession => "end_session",
            Command::MuteTrack { .. } => "mute_track",
            Command::Pin { .. } => "pin",
            Command::Unpin { .. } => "unpin",
            Command::UpdateParticipant { .. } => "update_participant",
            Command::Move { .. } => "move",
            Command::LiftBan { .. } => "lift_ban",
            Command::RevokeTokens { .. } => "revoke_tokens",
            Command::SetPreset { .. } => "set_preset",
            Command::SetPresetsExcept { .. } => "set_presets_except",
            Command::DropPreset { .. } => "drop_preset",
        }
    }

    pub fn is_host_control(&self) -> bool {
        matches!(
            self,
            Command::Mute { .. }
                | Command::RequestMedia { .. }
                | Command::MuteAll { .. }
                | Command::BatchUpdate { .. }
                | Command::Kick { .. }
                | Command::EndSession
                | Command::LockRoom { .. }
                | Command::OpenBreakouts { .. }
                | Command::CloseBreakouts { .. }
                | Command::BroadcastToBreakouts { .. }
                | Command::Admit { .. }
                | Command::Deny { .. }
                | Command::SetWaitingRoom { .. }
                | Command::LowerHand { .. }
                | Command::InviteToStage { .. }
                | Command::RemoveFromStage { .. }
                | Command::MuteTrack { .. }
                | Command::Pin { .. }
                | Command::Unpin { .. }
                | Command::UpdateParticipant { .. }
                | Command::Move { .. }
                | Command::LiftBan { .. }
                | Command::RevokeTokens { .. }
                | Command::UpdateRoomMetadata { .. }
                | Command::SetPreset { .. }
                | Command::SetPresetsExcept { .. }
                | Command::DropPreset { .. }
        )
    }
}

impl Command {
    /// Whether running this command can make a durable write (a ban, a token revocation, a
    /// preset, stored settings). Such commands run as a transaction ([`crate::Room::decide`]):
    /// the writes are committed before the room changes. Exact per variant, so other commands
    /// never pay for it (a property test checks no other command writes durably).
    pub fn may_write_durably(&self) -> bool {
        match self {
            Command::Kick {
                ban_seconds,
                revoke_tokens,
                ..
            } => ban_seconds.is_some() || *revoke_tokens,
            Command::BatchUpdate { updates } => updates.values().any(|e| e.ban_seconds.is_some()),
            Command::Deny { ban_seconds, .. } => ban_seconds.is_some(),
            Command::UpdateParticipant { capabilities, .. } => capabilities.is_some(),
            Command::LiftBan { .. }
            | Command::RevokeTokens { .. }
            | Command::UpdateRoomMetadata { .. }
            | Command::LockRoom { .. }
            | Command::SetWaitingRoom { .. }
            | Command::OpenBreakouts { .. }
            | Command::CloseBreakouts { .. }
            | Command::BreakoutsReturned
            | Command::SetPreset { .. }
            | Command::SetPresetsExcept { .. }
            | Command::DropPreset { .. } => true,
            _ => false,
        }
    }
}

/// What a main room tells everyone in its breakout rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BreakoutNotice {
    /// At `at` everyone is brought back (`breakouts_closing`).
    Closing {
        at: Millis,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A host's message to all (`breakout_broadcast`).
    Broadcast {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
}

impl BreakoutNotice {
    pub fn event(self) -> crate::event::Event {
        match self {
            BreakoutNotice::Closing { at, by } => crate::event::Event::BreakoutsClosing { at, by },
            BreakoutNotice::Broadcast { message, by } => {
                crate::event::Event::BreakoutBroadcast { message, by }
            }
        }
    }
}

/// One breakout room: its name and who goes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakoutRoom {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub identities: Vec<String>,
}

/// Per-target result of a kick or batch update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetResult {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::Error>,
    /// For unmutes under the `ask` policy: the consent requests that were sent (one per source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_ids: Vec<String>,
}

impl TargetResult {
    pub fn ok() -> Self {
        TargetResult {
            ok: true,
            error: None,
            request_ids: Vec::new(),
        }
    }
    pub fn from_result(r: crate::Result<Vec<String>>) -> Self {
        match r {
            Ok(request_ids) => TargetResult {
                ok: true,
                error: None,
                request_ids,
            },
            Err(e) => TargetResult {
                ok: false,
                error: Some(e),
                request_ids: Vec::new(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanInfo {
    pub identity: String,
    /// Milliseconds since the Unix epoch.
    pub until: Millis,
    pub by: String,
}

/// The participant state a move carries from one room to the next (to another node too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovingParticipant {
    pub info: ParticipantInfo,
    pub from_room: String,
    pub by: String,
    /// When its token was issued: the destination's revocations apply to it.
    pub issued_at: Option<Millis>,
    /// Its media session comes along (the shell carries the engine's session over).
    pub media_session: bool,
    /// It had a media session that could not come along (a move into a room another node
    /// serves): it is told to open a new one.
    #[serde(default)]
    pub media_ended: bool,
}

impl MovingParticipant {
    /// Moved by someone who may not grant more in the destination than its defaults: a
    /// participant holding more arrives with the destination's default role and permissions
    /// instead (the move is not refused); one holding no more keeps what it has.
    pub fn limit_to(&mut self, default_role: String, default: crate::Permissions) {
        if !self.info.permissions.is_within(&default) {
            self.info.role = default_role;
            self.info.permissions = default;
        }
    }
}

/// A published track and the m-line of the offer that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaTrack {
    pub mid: String,
    pub track: TrackInfo,
}

/// One m-line of a media offer that the client sends on, and what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferedTrack {
    pub mid: String,
    pub source: Source,
}

/// A successful command's result. Serialized flat into the response object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// The answer to a `media_offer`, and the tracks its sending m-lines published.
    MediaAnswer {
        sdp: String,
        tracks: Vec<MediaTrack>,
    },
    Track {
        track: TrackInfo,
    },
    /// A consent request (request_media, or an unmute under the `ask` policy).
    Request {
        request_id: String,
        status: String,
        deduplicated: bool,
    },
    /// Mute / unmute: how many tracks changed.
    Muted {
        changed: u32,
    },
    Results {
        results: BTreeMap<String, TargetResult>,
    },
    Participant {
        participant: ParticipantInfo,
    },
    Participants {
        participants: Vec<ParticipantInfo>,
        counts: Counts,
    },
    Bans {
        bans: Vec<BanInfo>,
    },
    /// Breakout rooms just opened: who goes where, and the time limit.
    Breakouts {
        rooms: Vec<BreakoutRoom>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<Millis>,
        /// How each move went (filled in by the service layer, which carries them out).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        moved: BTreeMap<String, TargetResult>,
    },
    /// The waiting room, oldest first.
    Waiting {
        waiting: Vec<crate::event::WaiterInfo>,
    },
    /// A kick of one identity: whether it was present and removed, and what else was done.
    Kicked {
        removed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        banned_until: Option<Millis>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens_revoked_before: Option<Millis>,
    },
    Pong {
        pong: bool,
    },
    /// An identity's preset capabilities.
    Preset {
        identity: String,
        capabilities: Capabilities,
    },
    Done {},
}

impl Reply {
    pub fn done() -> Reply {
        Reply::Done {}
    }
}
