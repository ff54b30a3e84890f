//! What a participant may send and receive, and which host controls it holds.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A kind of media a participant can publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Microphone,
    Camera,
    /// Also accepted as Daily's `screenVideo`.
    #[serde(alias = "screenVideo")]
    ScreenVideo,
    /// Also accepted as Daily's `screenAudio`.
    #[serde(alias = "screenAudio")]
    ScreenAudio,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Microphone,
        Source::Camera,
        Source::ScreenVideo,
        Source::ScreenAudio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Microphone => "microphone",
            Source::Camera => "camera",
            Source::ScreenVideo => "screen_video",
            Source::ScreenAudio => "screen_audio",
        }
    }

    /// The host control needed to mute (or remotely unmute) this source.
    pub fn mute_control(self) -> HostControl {
        match self {
            Source::Microphone => HostControl::MuteAudio,
            Source::Camera => HostControl::MuteVideo,
            Source::ScreenVideo | Source::ScreenAudio => HostControl::MuteScreen,
        }
    }

    /// Parses our names and LiveKit's `canPublishSources` / Daily's `canSend` spellings.
    pub fn parse_any(name: &str) -> Option<Source> {
        Some(match name {
            "microphone" | "MICROPHONE" => Source::Microphone,
            "camera" | "CAMERA" => Source::Camera,
            "screen_video" | "screenVideo" | "screen_share" | "SCREEN_SHARE" => Source::ScreenVideo,
            "screen_audio" | "screenAudio" | "screen_share_audio" | "SCREEN_SHARE_AUDIO" => {
                Source::ScreenAudio
            }
            _ => return None,
        })
    }
}

pub type SourceSet = BTreeSet<Source>;

pub fn all_sources() -> SourceSet {
    Source::ALL.into_iter().collect()
}

/// A moderation power. A host action without the control it needs fails with `permission_denied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostControl {
    MuteAudio,
    MuteVideo,
    MuteScreen,
    RequestMedia,
    Pin,
    Kick,
    EndSession,
    ManageParticipants,
    /// Lock and unlock the room.
    Lock,
    /// Hands and the stage: lower anyone's hand (and see raised hands when only hosts do).
    Stage,
    /// The waiting room: see who waits, admit or deny them, turn the waiting room on or off.
    Admit,
}

impl HostControl {
    pub const ALL: [HostControl; 11] = [
        HostControl::MuteAudio,
        HostControl::MuteVideo,
        HostControl::MuteScreen,
        HostControl::RequestMedia,
        HostControl::Pin,
        HostControl::Kick,
        HostControl::EndSession,
        HostControl::ManageParticipants,
        HostControl::Lock,
        HostControl::Stage,
        HostControl::Admit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HostControl::MuteAudio => "mute_audio",
            HostControl::MuteVideo => "mute_video",
            HostControl::MuteScreen => "mute_screen",
            HostControl::RequestMedia => "request_media",
            HostControl::Pin => "pin",
            HostControl::Kick => "kick",
            HostControl::EndSession => "end_session",
            HostControl::ManageParticipants => "manage_participants",
            HostControl::Lock => "lock",
            HostControl::Stage => "stage",
            HostControl::Admit => "admit",
        }
    }
}

pub type HostControlSet = BTreeSet<HostControl>;

/// Everything the room enforces about one participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Permissions {
    pub can_send: SourceSet,
    pub can_receive: SourceSet,
    pub can_publish_data: bool,
    pub can_update_own_metadata: bool,
    pub hidden: bool,
    pub host: HostControlSet,
}

impl Permissions {
    pub fn has(&self, control: HostControl) -> bool {
        self.host.contains(&control)
    }

    /// Whether these permissions allow nothing `other` does not (hidden counts as more).
    pub fn is_within(&self, other: &Permissions) -> bool {
        self.can_send.is_subset(&other.can_send)
            && self.can_receive.is_subset(&other.can_receive)
            && (!self.can_publish_data || other.can_publish_data)
            && (!self.can_update_own_metadata || other.can_update_own_metadata)
            && (!self.hidden || other.hidden)
            && self.host.is_subset(&other.host)
    }

    /// Applies a patch; fields left out keep their value.
    pub fn patched(&self, patch: &PermissionsPatch) -> Permissions {
        let mut p = self.clone();
        if let Some(v) = &patch.can_send {
            p.can_send = v.clone();
        }
        if let Some(v) = &patch.can_receive {
            p.can_receive = v.clone();
        }
        if let Some(v) = patch.can_publish_data {
            p.can_publish_data = v;
        }
        if let Some(v) = patch.can_update_own_metadata {
            p.can_update_own_metadata = v;
        }
        if let Some(v) = patch.hidden {
            p.hidden = v;
        }
        if let Some(v) = &patch.host {
            p.host = v.clone();
        }
        p
    }
}

/// A partial update of [`Permissions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PermissionsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_send: Option<SourceSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_receive: Option<SourceSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_update_own_metadata: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostControlSet>,
}

/// Chime's per-kind capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Capability {
    SendReceive,
    Send,
    Receive,
    None,
}

impl Capability {
    fn from_flags(send: bool, receive: bool) -> Capability {
        match (send, receive) {
            (true, true) => Capability::SendReceive,
            (true, false) => Capability::Send,
            (false, true) => Capability::Receive,
            (false, false) => Capability::None,
        }
    }
    pub fn sends(self) -> bool {
        matches!(self, Capability::SendReceive | Capability::Send)
    }
    pub fn receives(self) -> bool {
        matches!(self, Capability::SendReceive | Capability::Receive)
    }
}

/// Chime's `Capabilities {Audio, Video, Content}`: a view of [`Permissions`]
/// (Audio = microphone, Video = camera, Content = screen_video + screen_audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    #[serde(rename = "Audio", alias = "audio")]
    pub audio: Capability,
    #[serde(rename = "Video", alias = "video")]
    pub video: Capability,
    #[serde(rename = "Content", alias = "content")]
    pub content: Capability,
}

/// Chime's `MeetingFeatures` video resolution cap. `None` forbids video entirely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum VideoResolution {
    None,
    #[default]
    HD,
    FHD,
}

/// Chime's `MeetingFeatures` content (screen share) resolution cap. `None` forbids content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ContentResolution {
    None,
    #[default]
    FHD,
    UHD,
}

impl Capabilities {
    pub fn of(p: &Permissions) -> Capabilities {
        let has = |set: &SourceSet, s| set.contains(&s);
        Capabilities {
            audio: Capability::from_flags(
                has(&p.can_send, Source::Microphone),
                has(&p.can_receive, Source::Microphone),
            ),
            video: Capability::from_flags(
                has(&p.can_send, Source::Camera),
                has(&p.can_receive, Source::Camera),
            ),
            content: Capability::from_flags(
                has(&p.can_send, Source::ScreenVideo),
                has(&p.can_receive, Source::ScreenVideo),
            ),
        }
    }

    /// Seed 004's rules: a `None` resolution forbids any non-`None` capability of that kind, and
    /// Content may only receive when Video receives too.
    pub fn validate(
        &self,
        video_max: VideoResolution,
        content_max: ContentResolution,
    ) -> Result<()> {
        if video_max == VideoResolution::None && self.video != Capability::None {
            return Err(Error::invalid(
                "video capability must be None: the room's video_max_resolution is None",
            ));
        }
        if content_max == ContentResolution::None && self.content != Capability::None {
            return Err(Error::invalid(
                "content capability must be None: the room's content_max_resolution is None",
            ));
        }
        if self.content.receives() && !self.video.receives() {
            return Err(Error::invalid(
                "content capability SendReceive or Receive requires video capability SendReceive or Receive",
            ));
        }
        Ok(())
    }

    /// What an attendee gets when no capabilities are given (Chime's defaults): everything a room
    /// allows, except that a room without video but with content gives Video `Receive` and
    /// Content `SendReceive`, because content that receives needs video that receives. These
    /// defaults are not checked against the resolution rules: a request did not ask for them.
    pub fn defaults(video_max: VideoResolution, content_max: ContentResolution) -> Capabilities {
        use Capability::{None as Off, Receive, SendReceive};
        match (
            video_max == VideoResolution::None,
            content_max == ContentResolution::None,
        ) {
            (false, false) => Capabilities {
                audio: SendReceive,
                video: SendReceive,
                content: SendReceive,
            },
            (false, true) => Capabilities {
                audio: SendReceive,
                video: SendReceive,
                content: Off,
            },
            (true, false) => Capabilities {
                audio: SendReceive,
                video: Receive,
                content: SendReceive,
            },
            (true, true) => Capabilities {
                audio: SendReceive,
                video: Off,
                content: Off,
            },
        }
    }

    /// The permissions with send/receive sets replaced by this view.
    pub fn apply_to(&self, p: &Permissions) -> Permissions {
        let mut out = p.clone();
        out.can_send.clear();
        out.can_receive.clear();
        let kinds: [(Capability, &[Source]); 3] = [
            (self.audio, &[Source::Microphone]),
            (self.video, &[Source::Camera]),
            (self.content, &[Source::ScreenVideo, Source::ScreenAudio]),
        ];
        for (cap, sources) in kinds {
            for &s in sources {
                if cap.sends() {
                    out.can_send.insert(s);
                }
                if cap.receives() {
                    out.can_receive.insert(s);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn caps(audio: Capability, video: Capability, content: Capability) -> Capabilities {
        Capabilities {
            audio,
            video,
            content,
        }
    }

    #[test]
    fn capability_round_trip() {
        let c = caps(SendReceive, Receive, Send);
        let p = c.apply_to(&Permissions::default());
        assert!(p.can_send.contains(&Source::ScreenAudio));
        assert!(!p.can_send.contains(&Source::Camera));
        assert_eq!(Capabilities::of(&p), c);
    }

    #[test]
    fn seed_004_rules() {
        let ok = (VideoResolution::HD, ContentResolution::FHD);
        assert!(caps(None, SendReceive, SendReceive)
            .validate(ok.0, ok.1)
            .is_ok());
        // Video None resolution rejects any video capability but None.
        for v in [SendReceive, Send, Receive] {
            assert!(caps(None, v, None)
                .validate(VideoResolution::None, ContentResolution::FHD)
                .is_err());
        }
        assert!(caps(SendReceive, None, None)
            .validate(VideoResolution::None, ContentResolution::FHD)
            .is_ok());
        for c in [SendReceive, Send, Receive] {
            assert!(caps(None, Receive, c)
                .validate(VideoResolution::HD, ContentResolution::None)
                .is_err());
        }
        // Content receive requires video receive; content send alone does not.
        assert!(caps(None, Send, Receive).validate(ok.0, ok.1).is_err());
        assert!(caps(None, None, SendReceive).validate(ok.0, ok.1).is_err());
        assert!(caps(None, None, Send).validate(ok.0, ok.1).is_ok());
        assert!(caps(None, Receive, None).validate(ok.0, ok.1).is_ok());
    }

    #[test]
    fn defaults_follow_the_room() {
        use ContentResolution as C;
        use VideoResolution as V;
        assert_eq!(
            Capabilities::defaults(V::HD, C::FHD),
            caps(SendReceive, SendReceive, SendReceive)
        );
        assert_eq!(
            Capabilities::defaults(V::FHD, C::None),
            caps(SendReceive, SendReceive, None)
        );
        // Seed 004: no video but content → Video Receive, Content SendReceive.
        assert_eq!(
            Capabilities::defaults(V::None, C::UHD),
            caps(SendReceive, Receive, SendReceive)
        );
        assert_eq!(
            Capabilities::defaults(V::None, C::None),
            caps(SendReceive, None, None)
        );
    }

    #[test]
    fn source_aliases() {
        assert_eq!(Source::parse_any("screen_share"), Some(Source::ScreenVideo));
        assert_eq!(Source::parse_any("screenAudio"), Some(Source::ScreenAudio));
        assert_eq!(Source::parse_any("nope"), Option::None);
    }
}
