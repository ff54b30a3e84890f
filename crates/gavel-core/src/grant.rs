//! Access-token claims (LiveKit-compatible) and the permissions a token grants.
//!
//! Signature checking lives in the server; this module is the pure part: which room a token may
//! join and with what permissions.

use crate::error::{Error, ErrorCode, Result};
use crate::permissions::{Permissions, Source};
use crate::roles::{Roles, HOST, PARTICIPANT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// LiveKit's `video` grant, with LiveKit's field names so its SDKs' tokens work unchanged.
/// `Option<bool>` keeps "absent" apart from "false": absent never narrows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VideoGrant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_join: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_create: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_list: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish_sources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_update_own_metadata: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// LiveKit's single further room a participant may be moved or forwarded to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_room: Option<String>,
    /// Gavel's own grant: further rooms this token is good for besides `room`. A room-scoped
    /// server-API token administers them too (with `roomAdmin`), and a host may move
    /// participants (itself included) into them. Joins still go to `room` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
    /// Gavel's own grant: joins the room even while it is locked (the backend's own service
    /// participants, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_lock: Option<bool>,
    /// Gavel's own grant: enters directly when the room has a waiting room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_waiting_room: Option<bool>,
}

/// JWT claims. Unknown claims (LiveKit's `sha256`, `kind`, `roomConfig`, …) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Claims {
    /// API key.
    pub iss: String,
    /// Identity.
    #[serde(default)]
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub video: VideoGrant,
    /// Gavel's own claim: the name of a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

fn unauthenticated(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unauthenticated, msg)
}

impl Claims {
    pub fn is_admin_of(&self, room: &str) -> bool {
        self.video.room_admin == Some(true) && self.grants_room(room)
    }

    /// Server-API tokens with `roomAdmin` and no `room` administer every room.
    fn grants_room(&self, room: &str) -> bool {
        self.is_unscoped() || self.names_room(room)
    }

    /// A token without `room` is not limited to any room.
    pub fn is_unscoped(&self) -> bool {
        matches!(self.video.room.as_deref(), None | Some(""))
    }

    /// Whether this token names `room`: its `room`, LiveKit's `destinationRoom`, or one of
    /// Gavel's `rooms`. An unscoped token names no room in particular.
    pub fn names_room(&self, room: &str) -> bool {
        let v = &self.video;
        v.room.as_deref() == Some(room)
            || v.destination_room.as_deref() == Some(room)
            || v.rooms.iter().flatten().any(|r| r == room)
    }

    /// Checks that this token may join `room` and returns the role name and permissions it grants.
    pub fn join_grant(&self, room: &str, roles: &Roles) -> Result<(String, Permissions)> {
        if self.video.room_join != Some(true) {
            return Err(unauthenticated("token does not grant roomJoin"));
        }
        match self.video.room.as_deref() {
            Some(r) if r == room => {}
            Some(r) if !r.is_empty() => {
                return Err(unauthenticated(format!(
                    "token is for room '{r}', not '{room}'"
                )))
            }
            _ => return Err(unauthenticated("token names no room")),
        }
        if self.sub.is_empty() {
            return Err(unauthenticated("token has no identity (sub)"));
        }
        let role = self.role.clone().unwrap_or_else(|| {
            if self.video.room_admin == Some(true) {
                HOST.to_string()
            } else {
                PARTICIPANT.to_string()
            }
        });
        let mut p = roles
            .get(&role)
            .map_err(|_| unauthenticated(format!("token names unknown role '{role}'")))?
            .clone();
        self.narrow(&mut p);
        Ok((role, p))
    }

    /// LiveKit grant fields can only take away from the role, except `hidden`, which adds.
    fn narrow(&self, p: &mut Permissions) {
        let v = &self.video;
        if v.can_publish == Some(false) {
            p.can_send.clear();
        }
        if let Some(sources) = &v.can_publish_sources {
            let allowed: Vec<Source> = sources
                .iter()
                .filter_map(|s| Source::parse_any(s))
                .collect();
            p.can_send.retain(|s| allowed.contains(s));
        }
        if v.can_subscribe == Some(false) {
            p.can_receive.clear();
        }
        if v.can_publish_data == Some(false) {
            p.can_publish_data = false;
        }
        if v.can_update_own_metadata == Some(false) {
            p.can_update_own_metadata = false;
        }
        if v.hidden == Some(true) {
            p.hidden = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::HostControl;

    fn claims(grant: VideoGrant) -> Claims {
        Claims {
            iss: "k".into(),
            sub: "alice".into(),
            exp: 1,
            video: VideoGrant {
                room_join: Some(true),
                room: Some("demo".into()),
                ..grant
            },
            ..Default::default()
        }
    }

    #[test]
    fn admin_means_host() {
        let roles = Roles::default();
        let c = claims(VideoGrant {
            room_admin: Some(true),
            ..Default::default()
        });
        let (role, p) = c.join_grant("demo", &roles).unwrap();
        assert_eq!(role, "host");
        assert!(p.has(HostControl::Kick));
    }

    #[test]
    fn grant_fields_narrow() {
        let roles = Roles::default();
        let c = claims(VideoGrant {
            can_publish_sources: Some(vec!["microphone".into(), "screen_share".into()]),
            can_subscribe: Some(false),
            hidden: Some(true),
            ..Default::default()
        });
        let (role, p) = c.join_grant("demo", &roles).unwrap();
        assert_eq!(role, "participant");
        assert_eq!(p.can_send, [Source::Microphone, Source::ScreenVideo].into());
        assert!(p.can_receive.is_empty() && p.hidden && p.host.is_empty());
    }

    #[test]
    fn role_claim_wins_and_cannot_be_widened() {
        let roles = Roles::default();
        let mut c = claims(VideoGrant {
            can_publish: Some(true),
            room_admin: Some(true),
            ..Default::default()
        });
        c.role = Some("viewer".into());
        let (role, p) = c.join_grant("demo", &roles).unwrap();
        assert_eq!(role, "viewer");
        assert!(p.can_send.is_empty() && p.host.is_empty());
    }

    #[test]
    fn further_rooms_are_named_but_not_joined() {
        let roles = Roles::default();
        let c = claims(VideoGrant {
            room_admin: Some(true),
            rooms: Some(vec!["b".into()]),
            destination_room: Some("c".into()),
            ..Default::default()
        });
        assert!(c.names_room("demo") && c.names_room("b") && c.names_room("c"));
        assert!(!c.names_room("d") && !c.is_unscoped());
        assert!(c.is_admin_of("b") && !c.is_admin_of("d"));
        assert!(c.join_grant("b", &roles).is_err());
    }

    #[test]
    fn rejects_wrong_room_and_missing_join() {
        let roles = Roles::default();
        let c = claims(VideoGrant::default());
        assert_eq!(
            c.join_grant("other", &roles).unwrap_err().code,
            ErrorCode::Unauthenticated
        );
        let mut c2 = c.clone();
        c2.video.room_join = None;
        assert!(c2.join_grant("demo", &roles).is_err());
        let mut c3 = c.clone();
        c3.role = Some("nope".into());
        assert!(c3.join_grant("demo", &roles).is_err());
    }
}
