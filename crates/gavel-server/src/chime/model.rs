//! The request shapes of the `chime-sdk-meetings` model (2021-07-15) that this front-end reads,
//! and their constraints (lengths, patterns, the `aws:` prefix). botocore checks lengths and
//! enums before sending but not patterns, and other clients check nothing: everything is
//! checked here, and a violation is a `BadRequestException` that changes nothing.

use super::error::ChimeError;
use gavel_core::permissions::{ContentResolution, VideoResolution};
use gavel_core::Capabilities;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A body as JSON; an empty body is `{}`.
pub fn parse_json(body: &[u8]) -> Result<Value, ChimeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ChimeError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ChimeError::bad_request(format!("malformed JSON: {e}"))),
    }
}

/// A JSON body as a request shape; unknown members are ignored, as AWS services do.
pub fn shape<T: DeserializeOwned>(body: &Value) -> Result<T, ChimeError> {
    T::deserialize(body).map_err(|e| ChimeError::bad_request(format!("invalid request: {e}")))
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CreateMeetingRequest {
    pub client_request_token: Option<String>,
    pub media_region: Option<String>,
    pub meeting_host_id: Option<String>,
    pub external_meeting_id: Option<String>,
    pub notifications_configuration: Option<NotificationsConfiguration>,
    pub meeting_features: Option<MeetingFeatures>,
    pub primary_meeting_id: Option<String>,
    pub tenant_ids: Option<Vec<String>>,
    pub tags: Option<Vec<Tag>>,
    /// Only checked (one of the two values): Gavel's signaling has one network either way.
    #[allow(dead_code)]
    pub media_placement_network_type: Option<NetworkType>,
    /// CreateMeetingWithAttendees only.
    pub attendees: Option<Vec<CreateAttendeeItem>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NotificationsConfiguration {
    pub lambda_function_arn: Option<String>,
    pub sns_topic_arn: Option<String>,
    pub sqs_queue_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub enum NetworkType {
    Ipv4Only,
    DualStack,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct MeetingFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioFeatures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoFeatures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentFeatures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendee: Option<AttendeeFeatures>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AudioFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_reduction: Option<FeatureStatus>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum FeatureStatus {
    AVAILABLE,
    UNAVAILABLE,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VideoFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resolution: Option<VideoResolution>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContentFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resolution: Option<ContentResolution>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AttendeeFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAttendeeItem {
    pub external_user_id: Option<String>,
    pub capabilities: Option<Capabilities>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct BatchCreateAttendeeRequest {
    pub attendees: Option<Vec<CreateAttendeeItem>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateCapabilitiesRequest {
    pub capabilities: Option<Capabilities>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct BatchUpdateExceptRequest {
    pub excluded_attendee_ids: Option<Vec<AttendeeIdItem>>,
    pub capabilities: Option<Capabilities>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AttendeeIdItem {
    pub attendee_id: Option<String>,
}

// ----- constraints -----

/// Attendees per meeting when `MeetingFeatures.Attendee.MaxCount` is not given (Chime's limit).
pub const DEFAULT_MAX_ATTENDEES: i64 = 250;
/// Attendees allowed with FHD video or UHD content.
pub const HIGH_RESOLUTION_MAX_ATTENDEES: i64 = 25;

pub fn required<'a, T>(v: &'a Option<T>, name: &str) -> Result<&'a T, ChimeError> {
    v.as_ref()
        .ok_or_else(|| ChimeError::bad_request(format!("missing required field {name}")))
}

/// Lengths are in characters, as the model counts them.
pub fn check_len(name: &str, s: &str, min: usize, max: usize) -> Result<(), ChimeError> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(ChimeError::bad_request(format!(
            "{name} must be {min} to {max} characters long"
        )));
    }
    Ok(())
}

/// A list member's item count.
pub fn check_count<T>(name: &str, items: &[T], min: usize, max: usize) -> Result<(), ChimeError> {
    if items.len() < min || items.len() > max {
        return Err(ChimeError::bad_request(format!(
            "{name} must have {min} to {max} items"
        )));
    }
    Ok(())
}

/// The model's `GuidString`, normalized to lower case (ids are compared that way).
pub fn check_guid(name: &str, s: &str) -> Result<String, ChimeError> {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(ChimeError::bad_request(format!(
            "{name} '{s}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        )));
    }
    Ok(s.to_ascii_lowercase())
}

/// `ExternalUserId` / `ExternalMeetingId`: 2–64 characters of
/// `[-_&@+=,(){}\[\]\/«».:|'"#a-zA-Z0-9À-ÿ\s]`, not starting with `aws:` (any case).
pub fn check_external_id(name: &str, s: &str) -> Result<(), ChimeError> {
    check_len(name, s, 2, 64)?;
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || "-_&@+=,(){}[]/«».:|'\"#".contains(c)
            || ('\u{C0}'..='\u{FF}').contains(&c)
            // Java's \s: space, tab, newline, vertical tab, form feed, carriage return.
            || " \t\n\u{0B}\u{0C}\r".contains(c)
    };
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        return Err(ChimeError::bad_request(format!(
            "{name} contains the character {c:?}, which its pattern does not allow"
        )));
    }
    if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(ChimeError::bad_request(format!(
            "{name} values that begin with aws: are reserved"
        )));
    }
    Ok(())
}

pub fn check_client_request_token(s: &str) -> Result<(), ChimeError> {
    check_len("ClientRequestToken", s, 2, 64)?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ChimeError::bad_request(
            "ClientRequestToken may only contain letters, digits, - and _",
        ));
    }
    Ok(())
}

/// A Region name such as `us-east-1` or `us-gov-west-1`.
pub fn check_region(s: &str) -> Result<(), ChimeError> {
    check_len("MediaRegion", s, 2, 64)?;
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if !ok {
        return Err(ChimeError::bad_request(format!(
            "MediaRegion '{s}' is not a Region name such as us-east-1"
        )));
    }
    Ok(())
}

/// `TenantIds`: 1–5 ids of 2–256 characters of `[-_!@#$a-zA-Z0-9]`, none with a character
/// repeated four times in a row.
pub fn check_tenant_ids(ids: &[String]) -> Result<(), ChimeError> {
    check_count("TenantIds", ids, 1, 5)?;
    for id in ids {
        check_len("a TenantId", id, 2, 256)?;
        let chars: Vec<char> = id.chars().collect();
        let allowed = chars
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || "-_!@#$".contains(*c));
        let repeats = chars.windows(4).any(|w| w.iter().all(|c| *c == w[0]));
        if !allowed || repeats {
            return Err(ChimeError::bad_request(format!(
                "TenantId '{id}' does not match ^(?!.*?(.)\\1{{3}})[-_!@#$a-zA-Z0-9]*$"
            )));
        }
    }
    Ok(())
}

/// `Tags`: at most 50; keys of 1–128 characters of `[a-zA-Z+-=._:/]` (`+-=` is a range), values
/// of at most 256 of `[\s\w+-=\.:/@]`.
pub fn check_tags(tags: &[Tag]) -> Result<(), ChimeError> {
    if tags.len() > 50 {
        return Err(ChimeError::bad_request("at most 50 Tags"));
    }
    let in_range = |c: char| ('+'..='=').contains(&c);
    for t in tags {
        check_len("a tag Key", &t.key, 1, 128)?;
        check_len("a tag Value", &t.value, 0, 256)?;
        if !t
            .key
            .chars()
            .all(|c| c.is_ascii_alphabetic() || in_range(c) || "._:/".contains(c))
        {
            return Err(ChimeError::bad_request(format!(
                "tag Key '{}' does not match ^[a-zA-Z+-=._:/]+$",
                t.key
            )));
        }
        if !t.value.chars().all(|c| {
            c.is_alphanumeric()
                || c.is_whitespace()
                || c == '_'
                || in_range(c)
                || ".:/@".contains(c)
        }) {
            return Err(ChimeError::bad_request(format!(
                "tag Value '{}' does not match [\\s\\w+-=\\.:/@]*",
                t.value
            )));
        }
    }
    Ok(())
}

/// The ARNs of `NotificationsConfiguration`: 1–1024 characters, `^arn[\/\:\-\_\.a-zA-Z0-9]+$`.
pub fn check_notifications(n: &NotificationsConfiguration) -> Result<(), ChimeError> {
    let arns = [
        ("LambdaFunctionArn", &n.lambda_function_arn),
        ("SnsTopicArn", &n.sns_topic_arn),
        ("SqsQueueArn", &n.sqs_queue_arn),
    ];
    for (name, arn) in arns {
        let Some(arn) = arn else { continue };
        check_len(name, arn, 1, 1024)?;
        let ok = arn.len() > 3
            && arn.starts_with("arn")
            && arn[3..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/:-_.".contains(c));
        if !ok {
            return Err(ChimeError::bad_request(format!(
                "{name} '{arn}' is not an ARN"
            )));
        }
    }
    Ok(())
}

/// The features a meeting runs with: what was asked, with Chime's defaults filled in (HD video,
/// FHD content, 250 attendees). FHD video or UHD content needs an explicit `MaxCount` of at
/// most 25, as Chime requires.
pub fn effective_features(asked: Option<&MeetingFeatures>) -> Result<MeetingFeatures, ChimeError> {
    let mut f = asked.cloned().unwrap_or_default();
    let video = f
        .video
        .as_ref()
        .and_then(|v| v.max_resolution)
        .unwrap_or(VideoResolution::HD);
    let content = f
        .content
        .as_ref()
        .and_then(|c| c.max_resolution)
        .unwrap_or(ContentResolution::FHD);
    let asked_count = f.attendee.as_ref().and_then(|a| a.max_count);
    if let Some(n) = asked_count {
        if !(1..=DEFAULT_MAX_ATTENDEES).contains(&n) {
            return Err(ChimeError::bad_request(format!(
                "MeetingFeatures.Attendee.MaxCount must be 1 to {DEFAULT_MAX_ATTENDEES}"
            )));
        }
    }
    let high = video == VideoResolution::FHD || content == ContentResolution::UHD;
    if high && asked_count.is_none_or(|n| n > HIGH_RESOLUTION_MAX_ATTENDEES) {
        return Err(ChimeError::bad_request(format!(
            "FHD video or UHD content needs MeetingFeatures.Attendee.MaxCount of at most {HIGH_RESOLUTION_MAX_ATTENDEES}"
        )));
    }
    f.video = Some(VideoFeatures {
        max_resolution: Some(video),
    });
    f.content = Some(ContentFeatures {
        max_resolution: Some(content),
    });
    f.attendee = Some(AttendeeFeatures {
        max_count: Some(asked_count.unwrap_or(DEFAULT_MAX_ATTENDEES)),
    });
    Ok(f)
}

impl MeetingFeatures {
    /// Set by [`effective_features`].
    pub fn max_count(&self) -> i64 {
        self.attendee
            .as_ref()
            .and_then(|a| a.max_count)
            .unwrap_or(DEFAULT_MAX_ATTENDEES)
    }
    pub fn video_max(&self) -> VideoResolution {
        self.video
            .as_ref()
            .and_then(|v| v.max_resolution)
            .unwrap_or_default()
    }
    pub fn content_max(&self) -> ContentResolution {
        self.content
            .as_ref()
            .and_then(|c| c.max_resolution)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids() {
        for ok in ["ab", "user@example.com", "Zoë «x» [1]/2 {a}|'\"#", "a\tb"] {
            assert!(check_external_id("ExternalUserId", ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "aws:x",
            "AWS:xyz",
            "a*b",
            "a;b",
            &"x".repeat(65),
            "日本",
        ] {
            assert!(check_external_id("ExternalUserId", bad).is_err(), "{bad}");
        }
        // 64 two-byte characters are 64 characters.
        assert!(check_external_id("ExternalUserId", &"é".repeat(64)).is_ok());
    }

    #[test]
    fn guids_regions_tenants_tags() {
        assert_eq!(
            check_guid("MeetingId", "0A1B2C3D-0000-4000-8000-00000000000F").unwrap(),
            "0a1b2c3d-0000-4000-8000-00000000000f"
        );
        for bad in [
            "",
            "x",
            "0a1b2c3d-0000-4000-8000-00000000000",
            "0a1b2c3d00004000800000000000000f",
        ] {
            assert!(check_guid("MeetingId", bad).is_err(), "{bad}");
        }
        for ok in ["us-east-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in ["useast1", "US-EAST-1", "us-east-", "mars"] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
        assert!(check_tenant_ids(&["team-1".into()]).is_ok());
        assert!(check_tenant_ids(&["aaaa".into()]).is_err());
        assert!(check_tenant_ids(&[]).is_err());
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(check_tags(&[tag("env:team/1", "blue 2")]).is_ok());
        assert!(check_tags(&[tag("bad key!", "")]).is_err());
    }

    #[test]
    fn features() {
        let f = effective_features(None).unwrap();
        assert_eq!(
            (f.video_max(), f.content_max(), f.max_count()),
            (VideoResolution::HD, ContentResolution::FHD, 250)
        );
        let fhd = MeetingFeatures {
            video: Some(VideoFeatures {
                max_resolution: Some(VideoResolution::FHD),
            }),
            ..Default::default()
        };
        assert!(effective_features(Some(&fhd)).is_err());
        let fhd25 = MeetingFeatures {
            attendee: Some(AttendeeFeatures {
                max_count: Some(25),
            }),
            ..fhd
        };
        assert_eq!(effective_features(Some(&fhd25)).unwrap().max_count(), 25);
    }
}
