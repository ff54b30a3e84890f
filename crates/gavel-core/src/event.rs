//! Everything the room tells the outside world: events for clients and effects for the shell.

use crate::error::Error;
use crate::participant::{ParticipantInfo, TrackInfo};
use crate::permissions::{Permissions, Source};
use crate::settings::RoomSettings;
use serde::{Deserialize, Serialize};

/// Participants present in the room, split by visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counts {
    pub present: u32,
    pub hidden: u32,
    /// People in the waiting room (not in `present`: they are not in the room yet).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waiting: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Someone in the waiting room, as holders of `admit` (and the waiter itself) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiterInfo {
    pub sid: String,
    pub identity: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metadata: String,
    pub role: String,
    /// When it started waiting, and when it is turned away unless admitted (ms).
    pub since: crate::Millis,
    pub until: crate::Millis,
}

/// How someone's wait ended (`waiters_removed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitOutcome {
    Admitted,
    Denied,
    /// It left (its connection closed, or it sent `leave`).
    Left,
    TimedOut,
    /// The same identity started waiting again on another connection.
    Replaced,
    /// Banned, or its tokens revoked, while waiting.
    Banned,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub settings: RoomSettings,
    /// The room lost its last host: when its `host_left` action happens unless a host returns
    /// (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_left_at: Option<crate::Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    pub identity: String,
    /// Smoothed linear loudness, 0.0 (silence) to 1.0 (0 dBov).
    pub level: f32,
}

/// Why a participant left (as others see it) or why a session ended (as the target sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The participant asked to leave.
    Left,
    /// The connection closed.
    Disconnected,
    Kicked,
    Ended,
    Moved,
    Replaced,
    /// The participant became hidden; to others it is gone.
    Hidden,
    ServerShutdown,
    /// Its outgoing queue overflowed: it stopped reading.
    SlowConsumer,
    /// A move was approved but the destination refused it.
    MoveFailed,
    /// The room was deleted.
    RoomDeleted,
    /// The last host left and did not come back within the grace period (`host_left: end`).
    HostLeft,
    /// A host turned it away from the waiting room.
    Denied,
    /// Nobody admitted it from the waiting room in time.
    WaitingTimeout,
}

/// Why a participant's media session ended while it stayed in the room (cluster mode: the
/// session lived on a node that no longer serves its room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaEndReason {
    /// It was moved into a room another node serves.
    Moved,
    /// The node serving its room stopped or died; another took the room over.
    Failover,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnpublishReason {
    /// The participant unpublished it.
    Unpublished,
    /// Its source was removed from `can_send`.
    Permission,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    Accepted,
    Rejected,
    Expired,
    Cancelled,
}

/// A server → client message body (the shell adds `seq`).
// The snapshot is much larger than the rest; events travel boxed (`Output::Event`) and are
// serialized once, so the size of the enum itself costs nothing on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First message of a session, and again after a move: the whole room as this client may see it.
    Joined {
        room: RoomInfo,
        #[serde(rename = "self")]
        me: ParticipantInfo,
        participants: Vec<ParticipantInfo>,
        counts: Counts,
        pinned: Option<String>,
        active_speakers: Vec<Speaker>,
        /// Raised hands this participant may see, oldest first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hands: Vec<String>,
        /// Who is on the stage (among those it may see).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stage: Vec<String>,
        /// The waiting room, oldest first (to holders of `admit`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waiters: Vec<WaiterInfo>,
    },
    /// The first message of a session that must wait to be admitted: its own status, and
    /// nothing about the room. `joined` follows if it is admitted; `room_left` if not.
    Waiting {
        room: String,
        #[serde(rename = "self")]
        me: WaiterInfo,
    },
    /// Breakout rooms opened from this room (everyone here): who goes where.
    BreakoutsOpened {
        rooms: Vec<crate::command::BreakoutRoom>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<crate::Millis>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// Everyone in the main room and its breakout rooms: at `at` everyone is brought back.
    BreakoutsClosing {
        at: crate::Millis,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The main room: the breakout rooms are closed, everyone is being brought back.
    BreakoutsClosed,
    /// Everyone in the main room and its breakout rooms: a host's message.
    BreakoutBroadcast {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// To holders of `admit`: someone started waiting.
    WaiterAdded {
        waiter: WaiterInfo,
    },
    /// To holders of `admit`: these people no longer wait (one event for an admit-all).
    WaitersRemoved {
        identities: Vec<String>,
        outcome: WaitOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        identity: String,
        sid: String,
        reason: LeaveReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// `changed` names the fields that changed: name, metadata, attributes, role, permissions.
    ParticipantUpdated {
        participant: ParticipantInfo,
        changed: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Why, when the room itself made the change (`host_left`: promoted after the last
        /// host left).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    CountsUpdated {
        present: u32,
        hidden: u32,
        #[serde(default, skip_serializing_if = "is_zero")]
        waiting: u32,
    },
    TrackPublished {
        identity: String,
        track: TrackInfo,
    },
    TrackUnpublished {
        identity: String,
        track_sid: String,
        source: Source,
        reason: UnpublishReason,
    },
    /// One track (`identity` + `track_sid`), or, for mute-all, every track of `source` whose
    /// owner is not in `except` (`all: true`): one summary message instead of one per track.
    TrackMuted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        track_sid: Option<String>,
        source: Source,
        muted: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        except: Vec<String>,
    },
    MediaRequested {
        request_id: String,
        source: Source,
        from: String,
        expires_at: crate::Millis,
    },
    RequestResolved {
        request_id: String,
        source: Source,
        identity: String,
        from: String,
        outcome: RequestOutcome,
    },
    Pinned {
        identity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    Unpinned {
        identity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// To the target only, after its permissions or role changed.
    PermissionsChanged {
        role: String,
        permissions: Permissions,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// As in `participant_updated`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    ActiveSpeakers {
        speakers: Vec<Speaker>,
    },
    /// Daily's single active speaker: sent when a different participant becomes the loudest
    /// speaker. It stays the active speaker through silence; `identity` is null only after it left.
    ActiveSpeakerChanged {
        identity: Option<String>,
    },
    /// To the target of a move; a `joined` for the destination follows.
    Moved {
        from: String,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// To one participant: its media session is gone though it is still in the room — open a
    /// new one (`media_offer`) after the `joined` that follows (after a move: `moved`, this,
    /// then `joined`). Sent only in cluster mode.
    MediaSessionEnded {
        reason: MediaEndReason,
    },
    /// The room lost its last host: at `at` (ms since the epoch) `action` happens (the session
    /// ends, or someone is promoted), unless a host comes back first (everyone).
    HostLeft {
        action: crate::settings::HostLeftAction,
        at: crate::Millis,
    },
    /// A hand went up or down (`by`: the host who lowered it); to everyone, or only to hosts
    /// and the raiser when the room shows hands only to hosts.
    HandChanged {
        identity: String,
        raised: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// To the target: a host invites it to the stage; answer with `respond_request`.
    StageInvited {
        request_id: String,
        from: String,
        expires_at: crate::Millis,
    },
    /// To the target and the inviter: how a stage invitation ended.
    StageInviteResolved {
        request_id: String,
        identity: String,
        from: String,
        outcome: RequestOutcome,
    },
    /// Someone went on or off the stage (everyone who may see it; `by`: who invited or
    /// removed them).
    StageChanged {
        identity: String,
        on_stage: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A host came back in time: what `host_left` announced is called off (everyone).
    HostReturned {
        identity: String,
    },
    /// The room's metadata, lock or other settings changed (everyone).
    RoomUpdated {
        room: RoomInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// An application message; `from` is absent when the server sent it.
    DataReceived {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// Base64.
        payload: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        reliable: bool,
    },
    /// To one participant with a media session: what each of its receive slots (m-lines it
    /// offered as receiving) carries now. Sent whenever that changes. `unserved_audio` /
    /// `unserved_video` count tracks it may receive that found no free slot: offer more slots.
    MediaSlots {
        slots: Vec<MediaSlot>,
        unserved_audio: u32,
        unserved_video: u32,
    },
    /// To one participant with a session the server offers to (`media_subscribe`): the
    /// server's offer, to answer with `media_answer`.
    MediaOffer {
        sdp: String,
    },
    /// Participants' connection quality changed (from their media sessions' loss and round
    /// trip time): batched, at most one every `QUALITY_INTERVAL` to everyone, naming the
    /// participants they may see; an unannounced participant hears only of its own.
    ConnectionQuality {
        updates: Vec<QualityUpdate>,
    },
    /// The session is over; the connection closes after this.
    RoomLeft {
        reason: LeaveReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Why, in words (a host's reason for denying entry from the waiting room).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// One participant's connection quality (`connection_quality`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityUpdate {
    pub identity: String,
    pub quality: ConnectionQuality,
}

/// How well a participant's media gets through, from its sessions' packet loss and round trip
/// time (LiveKit's four levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionQuality {
    /// Its media session closed.
    Lost,
    /// Loss above 8 % or a round trip above 400 ms: speech breaks up.
    Poor,
    /// Loss up to 8 % and a round trip up to 400 ms.
    Good,
    /// Loss up to 2 % and a round trip up to 150 ms.
    Excellent,
}

impl ConnectionQuality {
    /// The level for a reading: `loss` is the worse direction's fraction lost (0–1).
    pub fn of(rtt_ms: Option<u32>, loss: Option<f32>) -> ConnectionQuality {
        let rtt = rtt_ms.unwrap_or(0);
        let loss = loss.unwrap_or(0.0);
        if loss <= 0.02 && rtt <= 150 {
            ConnectionQuality::Excellent
        } else if loss <= 0.08 && rtt <= 400 {
            ConnectionQuality::Good
        } else {
            ConnectionQuality::Poor
        }
    }
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Joined { .. } => "joined",
            Event::ParticipantJoined { .. } => "participant_joined",
            Event::ParticipantLeft { .. } => "participant_left",
            Event::ParticipantUpdated { .. } => "participant_updated",
            Event::CountsUpdated { .. } => "counts_updated",
            Event::Waiting { .. } => "waiting",
            Event::BreakoutsOpened { .. } => "breakouts_opened",
            Event::BreakoutsClosing { .. } => "breakouts_closing",
            Event::BreakoutsClosed => "breakouts_closed",
            Event::BreakoutBroadcast { .. } => "breakout_broadcast",
            Event::WaiterAdded { .. } => "waiter_added",
            Event::WaitersRemoved { .. } => "waiters_removed",
            Event::TrackPublished { .. } => "track_published",
            Event::TrackUnpublished { .. } => "track_unpublished",
            Event::TrackMuted { .. } => "track_muted",
            Event::MediaRequested { .. } => "media_requested",
            Event::RequestResolved { .. } => "request_resolved",
            Event::Pinned { .. } => "pinned",
            Event::Unpinned { .. } => "unpinned",
            Event::PermissionsChanged { .. } => "permissions_changed",
            Event::ActiveSpeakers { .. } => "active_speakers",
            Event::ActiveSpeakerChanged { .. } => "active_speaker_changed",
            Event::Moved { .. } => "moved",
            Event::MediaSessionEnded { .. } => "media_session_ended",
            Event::RoomUpdated { .. } => "room_updated",
            Event::HostLeft { .. } => "host_left",
            Event::HostReturned { .. } => "host_returned",
            Event::HandChanged { .. } => "hand_changed",
            Event::StageInvited { .. } => "stage_invited",
            Event::StageInviteResolved { .. } => "stage_invite_resolved",
            Event::StageChanged { .. } => "stage_changed",
            Event::DataReceived { .. } => "data_received",
            Event::MediaSlots { .. } => "media_slots",
            Event::MediaOffer { .. } => "media_offer",
            Event::ConnectionQuality { .. } => "connection_quality",
            Event::RoomLeft { .. } => "room_left",
        }
    }
}

/// One receive slot of a participant's media session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaSlot {
    pub mid: String,
    /// `audio` or `video`.
    pub kind: String,
    /// Whose track it carries; all absent when the slot is idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::permissions::Source>,
}

/// Who receives an event, by session id. The shell resolves this against its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every connected participant, hidden ones included.
    Everyone,
    EveryoneExcept(String),
    Only(String),
    /// These sessions (a data message's destinations).
    Sessions(Vec<String>),
}

impl Audience {
    pub fn includes(&self, sid: &str) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::EveryoneExcept(x) => x != sid,
            Audience::Only(x) => x == sid,
            Audience::Sessions(xs) => xs.iter().any(|x| x == sid),
        }
    }
}

/// What [`crate::Room::poll_output`] yields, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Event {
        to: Audience,
        event: Box<Event>,
    },
    /// Relay `event` to everyone in each of `rooms` (a breakout notice from their parent).
    ToBreakouts {
        rooms: Vec<String>,
        notice: crate::command::BreakoutNotice,
    },
    /// Bring everyone in `rooms` back here, then delete them; then tell this room with
    /// `breakouts_returned`.
    ReturnFromBreakouts {
        rooms: Vec<String>,
    },
    /// The session ended here: end it in `rooms` too (`room_left {reason: ended}`) and delete
    /// them; then tell this room with `breakouts_returned`.
    EndBreakouts {
        rooms: Vec<String>,
    },
    /// A waiter was admitted: its connection joins the room's audience before its `joined`.
    WaiterAdmitted {
        sid: String,
    },
    /// Close this session's connection after the events already queued for it.
    Disconnect {
        sid: String,
        reason: LeaveReason,
    },
    /// A consent request finished; lets the shell answer server-API callers that wait on it.
    RequestResolved {
        request_id: String,
        outcome: RequestOutcome,
    },
    /// A host action was carried out or refused (for audit and metrics).
    HostAction {
        actor: String,
        action: &'static str,
        targets: Vec<String>,
        /// The command as given (its parameters, for the audit log).
        command: Box<crate::command::Command>,
        outcome: Result<(), Error>,
    },
    /// A ban was set (`until` in the future) or lifted (`until: None`). The shell makes it
    /// durable before it answers the command that caused it.
    BanChanged {
        identity: String,
        until: Option<crate::Millis>,
        by: String,
    },
    /// Tokens of `identity` issued before `before` are void; made durable like bans.
    TokensRevoked {
        identity: String,
        before: crate::Millis,
        by: String,
    },
    /// The room's settings changed (its metadata); the shell stores them if the room is durable.
    SettingsChanged {
        settings: Box<RoomSettings>,
    },
    /// An identity's preset capabilities were set (`Some`) or dropped (`None`); made durable
    /// like bans, before the command is acknowledged.
    PresetChanged {
        identity: String,
        capabilities: Option<crate::permissions::Capabilities>,
    },
    /// An approved move took a participant out of this room: the shell admits it into the
    /// destination (a hand-off between rooms, never sent to clients).
    MovedOut {
        moving: Box<crate::command::MovingParticipant>,
    },
    /// A participant's session in this room began (a join, or a move into this room), hidden
    /// and unlisted participants included: for webhooks, which report every session.
    SessionStarted {
        participant: Box<ParticipantInfo>,
        /// The room it was moved from, for a move.
        moved_from: Option<String>,
    },
    /// A participant's session in this room ended (left, kicked, moved, …): for session history.
    SessionEnded {
        participant: Box<ParticipantInfo>,
        reason: LeaveReason,
        /// Who ended it, when someone did (a kick, a ban, the end of the session).
        by: Option<String>,
    },
}

/// A durable effect of a command: the shell commits it before the command takes effect
/// ([`crate::Room::decide`]), so nothing is announced or acknowledged that a restart could lose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DurableWrite {
    /// A ban set (`until`) or lifted (`None`).
    Ban {
        identity: String,
        until: Option<crate::Millis>,
        by: String,
    },
    /// Tokens of `identity` issued before `before` are void.
    TokensRevoked {
        identity: String,
        before: crate::Millis,
        by: String,
    },
    /// The room's settings (kept if the room is stored).
    Settings { settings: Box<RoomSettings> },
    /// An identity's preset capabilities, set or dropped.
    Preset {
        identity: String,
        capabilities: Option<crate::permissions::Capabilities>,
    },
}

impl Output {
    /// The durable write this output stands for, if it is one.
    pub fn into_durable(self) -> std::result::Result<DurableWrite, Output> {
        match self {
            Output::BanChanged {
                identity,
                until,
                by,
            } => Ok(DurableWrite::Ban {
                identity,
                until,
                by,
            }),
            Output::TokensRevoked {
                identity,
                before,
                by,
            } => Ok(DurableWrite::TokensRevoked {
                identity,
                before,
                by,
            }),
            Output::SettingsChanged { settings } => Ok(DurableWrite::Settings { settings }),
            Output::PresetChanged {
                identity,
                capabilities,
            } => Ok(DurableWrite::Preset {
                identity,
                capabilities,
            }),
            other => Err(other),
        }
    }

    pub fn is_durable(&self) -> bool {
        matches!(
            self,
            Output::BanChanged { .. }
                | Output::TokensRevoked { .. }
                | Output::SettingsChanged { .. }
                | Output::PresetChanged { .. }
        )
    }
}
