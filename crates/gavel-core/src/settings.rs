//! Per-room settings chosen at creation.

use crate::error::{Error, Result};
use crate::permissions::{
    ContentResolution, HostControl, Permissions, PermissionsPatch, Source, VideoResolution,
};
use serde::{Deserialize, Serialize};

/// What a host's "unmute" does (LiveKit keeps remote unmute off by default; we ask by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RemoteUnmute {
    /// Refused with `failed_precondition`.
    Off,
    /// Turned into a consent request the target accepts or rejects.
    #[default]
    Ask,
    /// Applied directly.
    Force,
}

/// What happens when an identity already in the room joins again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateIdentity {
    /// The new session replaces the old one (`room_left {reason: replaced}`).
    #[default]
    Replace,
    /// The new join fails with `conflict`.
    Reject,
}

/// Who sees raised hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HandsVisibleTo {
    /// Everyone sees the queue.
    #[default]
    Everyone,
    /// Only holders of the `stage` control (and each raiser, their own hand).
    Hosts,
}

/// What happens when the room's last host leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HostLeftAction {
    /// Nothing: the room goes on without a host.
    #[default]
    Keep,
    /// After the grace period the session ends for everyone (`room_left {reason: host_left}`).
    End,
    /// After the grace period the longest-present participant of `promote_role` becomes a host.
    Promote,
}

impl HostLeftAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HostLeftAction::Keep => "keep",
            HostLeftAction::End => "end",
            HostLeftAction::Promote => "promote",
        }
    }
}

/// The room's rule for losing its last host. A host is a participant holding every one of
/// `host_controls`, whatever its role is called; a host who returns (or whose connection
/// resumes) within `grace_seconds` cancels the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostLeftPolicy {
    pub action: HostLeftAction,
    pub grace_seconds: u32,
    pub host_controls: Vec<HostControl>,
    /// `promote`: who may be promoted (the longest present of this role)…
    pub promote_role: String,
    /// …and the role they are given.
    pub host_role: String,
}

impl Default for HostLeftPolicy {
    fn default() -> Self {
        HostLeftPolicy {
            action: HostLeftAction::Keep,
            grace_seconds: 60,
            host_controls: vec![HostControl::Kick],
            promote_role: crate::roles::PARTICIPANT.to_string(),
            host_role: crate::roles::HOST.to_string(),
        }
    }
}

pub const MAX_HOST_LEFT_GRACE_SECONDS: u32 = 24 * 3600;

impl HostLeftPolicy {
    /// Whether `p` counts as a host under this rule.
    pub fn is_host(&self, p: &Permissions) -> bool {
        self.host_controls.iter().all(|c| p.has(*c))
    }

    fn validate(&self, roles: Option<&crate::roles::Roles>) -> Result<()> {
        if self.grace_seconds > MAX_HOST_LEFT_GRACE_SECONDS {
            return Err(Error::invalid(format!(
                "host_left.grace_seconds must be at most {MAX_HOST_LEFT_GRACE_SECONDS}"
            )));
        }
        if self.action != HostLeftAction::Keep && self.host_controls.is_empty() {
            return Err(Error::invalid(
                "host_left.host_controls must name at least one host control",
            ));
        }
        if let Some(roles) = roles {
            if self.action == HostLeftAction::Promote {
                roles.get(&self.promote_role)?;
                let host = roles.get(&self.host_role)?;
                if !self.is_host(host) {
                    return Err(Error::invalid(format!(
                        "host_left.host_role '{}' does not hold the host controls of host_left.host_controls",
                        self.host_role
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The room's waiting room: who must wait to be admitted, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WaitingRoomPolicy {
    /// Joiners wait for a holder of `admit` to let them in, unless they may enter directly.
    pub enabled: bool,
    /// Roles that enter directly (besides holders of `admit`, and tokens granting
    /// `bypassWaitingRoom`).
    pub enter_directly: Vec<String>,
    /// A waiter not admitted or denied within this time is turned away (`waiting_timeout`).
    pub timeout_seconds: u32,
    /// At most this many wait at once; further joiners are refused (`room_full`).
    pub max_waiting: u32,
}

impl Default for WaitingRoomPolicy {
    fn default() -> Self {
        WaitingRoomPolicy {
            enabled: false,
            enter_directly: vec![crate::roles::HOST.to_string()],
            timeout_seconds: 600,
            max_waiting: 1000,
        }
    }
}

pub const MAX_WAITING_TIMEOUT_SECONDS: u32 = 24 * 3600;
pub const MAX_WAITING: u32 = 10_000;

impl WaitingRoomPolicy {
    fn validate(&self, roles: Option<&crate::roles::Roles>) -> Result<()> {
        if self.timeout_seconds == 0 || self.timeout_seconds > MAX_WAITING_TIMEOUT_SECONDS {
            return Err(Error::invalid(format!(
                "waiting_room.timeout_seconds must be 1 to {MAX_WAITING_TIMEOUT_SECONDS}"
            )));
        }
        if self.max_waiting == 0 || self.max_waiting > MAX_WAITING {
            return Err(Error::invalid(format!(
                "waiting_room.max_waiting must be 1 to {MAX_WAITING}"
            )));
        }
        if self.enter_directly.len() > 32 {
            return Err(Error::invalid(
                "waiting_room.enter_directly names at most 32 roles",
            ));
        }
        if let Some(roles) = roles {
            for r in &self.enter_directly {
                roles.get(r)?;
            }
        }
        Ok(())
    }
}

/// Breakout rooms open from this room (set by `open_breakouts`, cleared once everyone is
/// back): stored with the room, so a restart keeps them and their deadlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakouts {
    /// The breakout rooms (child rooms of this one), in order.
    pub rooms: Vec<String>,
    /// The time limit: closing starts here (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<crate::Millis>,
    /// How long everyone is warned before being brought back.
    pub countdown_seconds: u32,
    /// A host closed them: everyone is brought back at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<crate::Millis>,
}

pub const MAX_BREAKOUTS: usize = 50;
pub const MAX_BREAKOUT_SECONDS: u32 = 24 * 3600;
pub const MAX_COUNTDOWN_SECONDS: u32 = 600;

impl Breakouts {
    /// When everyone is brought back: the host's close, else the time limit plus the countdown.
    pub fn return_at(&self) -> Option<crate::Millis> {
        self.closes_at.or(self
            .ends_at
            .map(|e| e + crate::Millis::from(self.countdown_seconds) * 1000))
    }

    fn validate(&self) -> Result<()> {
        if self.rooms.is_empty() || self.rooms.len() > MAX_BREAKOUTS {
            return Err(Error::invalid(format!(
                "breakouts.rooms must name 1 to {MAX_BREAKOUTS} rooms"
            )));
        }
        for r in &self.rooms {
            crate::ids::validate_room_name(r)?;
        }
        if self.countdown_seconds > MAX_COUNTDOWN_SECONDS {
            return Err(Error::invalid(format!(
                "breakouts.countdown_seconds must be at most {MAX_COUNTDOWN_SECONDS}"
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomSettings {
    pub remote_unmute: RemoteUnmute,
    /// How long a consent request waits for an answer.
    pub request_timeout_seconds: u32,
    pub duplicate_identity: DuplicateIdentity,
    /// 0 means unlimited.
    pub max_participants: u32,
    pub video_max_resolution: VideoResolution,
    pub content_max_resolution: ContentResolution,
    /// How long an empty room that was created by a join lingers before it is closed.
    pub empty_timeout_seconds: u32,
    pub metadata: String,
    /// Large rooms: once this many participants are present, further audience members (no
    /// media to send, no host control) are counted but not announced one by one, and counts are
    /// sent at most once per second. 0 means every participant is announced.
    pub listed_limit: u32,
    /// The room this one is a child of (a breakout room, say): hosts of the parent are hosts
    /// here, and the parent's bans apply here too. Set at creation; the parent must exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Cameras every participant receives by default: the pinned participant, the active
    /// speakers, then the earliest to join, up to this many ("last-N"). Others' cameras are
    /// received only by explicit subscription, so no one is sent hundreds of videos.
    pub video_last_n: u32,
    /// Locked: nobody new joins or is moved in (`lock_room`), except holders of a token's
    /// `bypassLock` grant and people returning from this room's own child rooms.
    pub locked: bool,
    /// Who sees the raised hands.
    pub hands_visible_to: HandsVisibleTo,
    /// What joining the stage grants (on top of the participant's role); leaving it goes back
    /// to the role's permissions. Boxed, as `host_left`.
    pub stage_permissions: Box<PermissionsPatch>,
    /// What happens when the last host leaves (boxed: rarely set, and every snapshot carries
    /// the settings).
    pub host_left: Box<HostLeftPolicy>,
    /// The waiting room (boxed, as `host_left`).
    pub waiting_room: Box<WaitingRoomPolicy>,
    /// Breakout rooms open from this room, if any (`open_breakouts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakouts: Option<Box<Breakouts>>,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            remote_unmute: RemoteUnmute::Ask,
            request_timeout_seconds: 30,
            duplicate_identity: DuplicateIdentity::Replace,
            max_participants: 0,
            video_max_resolution: VideoResolution::HD,
            content_max_resolution: ContentResolution::FHD,
            empty_timeout_seconds: 300,
            metadata: String::new(),
            listed_limit: DEFAULT_LISTED_LIMIT,
            parent: None,
            video_last_n: DEFAULT_VIDEO_LAST_N,
            locked: false,
            hands_visible_to: HandsVisibleTo::Everyone,
            stage_permissions: Box::new(PermissionsPatch {
                can_send: Some(Source::ALL.into_iter().collect()),
                can_publish_data: Some(true),
                ..Default::default()
            }),
            host_left: Box::default(),
            waiting_room: Box::default(),
            breakouts: None,
        }
    }
}

pub const MAX_REQUEST_TIMEOUT_SECONDS: u32 = 3600;
pub const MAX_PARTICIPANTS_LIMIT: u32 = 100_000;
pub const DEFAULT_LISTED_LIMIT: u32 = 100;
pub const DEFAULT_VIDEO_LAST_N: u32 = 25;
pub const MAX_VIDEO_LAST_N: u32 = 100;

impl RoomSettings {
    /// Checks the settings; with `roles`, also that the roles they name exist.
    pub fn validate_with(&self, roles: &crate::roles::Roles) -> Result<()> {
        self.validate()?;
        self.waiting_room.validate(Some(roles))?;
        self.host_left.validate(Some(roles))
    }

    pub fn validate(&self) -> Result<()> {
        self.host_left.validate(None)?;
        self.waiting_room.validate(None)?;
        if let Some(b) = &self.breakouts {
            b.validate()?;
        }
        if self.request_timeout_seconds == 0
            || self.request_timeout_seconds > MAX_REQUEST_TIMEOUT_SECONDS
        {
            return Err(Error::invalid(format!(
                "request_timeout_seconds must be 1 to {MAX_REQUEST_TIMEOUT_SECONDS}"
            )));
        }
        if self.max_participants > MAX_PARTICIPANTS_LIMIT {
            return Err(Error::invalid(format!(
                "max_participants must be at most {MAX_PARTICIPANTS_LIMIT}"
            )));
        }
        if self.listed_limit > MAX_PARTICIPANTS_LIMIT {
            return Err(Error::invalid(format!(
                "listed_limit must be at most {MAX_PARTICIPANTS_LIMIT}"
            )));
        }
        if self.video_last_n > MAX_VIDEO_LAST_N {
            return Err(Error::invalid(format!(
                "video_last_n must be at most {MAX_VIDEO_LAST_N}"
            )));
        }
        if let Some(parent) = &self.parent {
            crate::ids::validate_room_name(parent)?;
        }
        crate::ids::validate_metadata(&self.metadata)
    }
}
