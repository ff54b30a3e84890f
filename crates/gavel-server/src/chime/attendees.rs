//! CreateAttendee, BatchCreateAttendee, GetAttendee, ListAttendees, DeleteAttendee.
//!
//! An attendee is the identity `AttendeeId` in the meeting's room. Its capabilities are the
//! room's preset for that identity (applied whenever it joins, and live while it is in), its
//! `JoinToken` a Gavel access token for that identity and room (role `participant`).

use super::meetings;
use super::model::{self, required, CreateAttendeeItem};
use super::store::{ChimeAttendee, ChimeMeeting};
use super::{json, no_content, ChimeError, Ctx, Kind, Query};
use axum::response::Response;
use gavel_core::{Capabilities, Claims, Command, VideoGrant};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How long a JoinToken is valid: a Chime meeting lasts at most 24 hours. It stops working
/// earlier when the attendee or the meeting is deleted.
const JOIN_TOKEN_TTL_SECONDS: u64 = 24 * 3600;
/// The participant attribute that carries the attendee's `ExternalUserId`.
pub const EXTERNAL_USER_ID_ATTRIBUTE: &str = "chime.external_user_id";
/// ListAttendees' page size when `max-results` is not given.
const DEFAULT_PAGE: i64 = 100;

pub fn view(a: &ChimeAttendee, capabilities: Capabilities) -> Value {
    json!({
        "ExternalUserId": a.external_user_id,
        "AttendeeId": a.attendee_id,
        "JoinToken": a.join_token,
        "Capabilities": capabilities,
    })
}

/// The room's presets, and the capabilities of an attendee without one (the room's defaults).
pub struct Presets {
    by_identity: BTreeMap<String, Capabilities>,
    defaults: Capabilities,
}

impl Presets {
    pub async fn of(ctx: &Ctx, meeting_id: &str) -> Result<Presets, ChimeError> {
        let request = crate::service::ServiceRequest::Presets {
            room: meeting_id.to_string(),
        };
        match ctx.state.service.call(&ctx.principal(), request).await? {
            crate::service::ServiceReply::Presets { presets, settings } => Ok(Presets {
                by_identity: presets,
                defaults: Capabilities::defaults(
                    settings.video_max_resolution,
                    settings.content_max_resolution,
                ),
            }),
            _ => Err(
                gavel_core::Error::new(gavel_core::ErrorCode::Internal, "unexpected reply").into(),
            ),
        }
    }

    pub fn get(&self, attendee_id: &str) -> Capabilities {
        self.by_identity
            .get(attendee_id)
            .copied()
            .unwrap_or(self.defaults)
    }
}

/// The attendee named in a path, or `NotFoundException`.
pub async fn find(
    ctx: &Ctx,
    meeting: &ChimeMeeting,
    attendee_id: &str,
) -> Result<ChimeAttendee, ChimeError> {
    let id = model::check_guid("AttendeeId", attendee_id)?;
    let (m, a) = (meeting.meeting_id.clone(), id.clone());
    ctx.db(move |s| s.attendee(&m, &a)).await?.ok_or_else(|| {
        ChimeError::not_found(format!(
            "the attendee {id} does not exist in meeting {}",
            meeting.meeting_id
        ))
    })
}

/// A Gavel access token that joins `meeting_id` as `attendee_id`, signed with the caller's key.
fn join_token(ctx: &Ctx, meeting_id: &str, attendee_id: &str, external: &str) -> String {
    let now = crate::clock::now_ms() / 1000;
    // Names may not hold control characters; the pattern's \s allows tabs and newlines.
    let name: String = external
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let claims = Claims {
        iss: ctx.access_key.clone(),
        sub: attendee_id.to_string(),
        exp: now + JOIN_TOKEN_TTL_SECONDS,
        iat: Some(now),
        name: Some(name),
        attributes: Some([(EXTERNAL_USER_ID_ATTRIBUTE.to_string(), external.to_string())].into()),
        video: VideoGrant {
            room_join: Some(true),
            room: Some(meeting_id.to_string()),
            ..Default::default()
        },
        role: Some(gavel_core::roles::PARTICIPANT.to_string()),
        ..Default::default()
    };
    crate::auth::sign(&claims, &ctx.secret)
}

/// Creates one attendee, or returns the meeting's attendee with the same `ExternalUserId`
/// (it is an idempotency token). The caller holds the write lock.
async fn create_one(
    ctx: &Ctx,
    meeting: &ChimeMeeting,
    item: &CreateAttendeeItem,
) -> Result<Value, ChimeError> {
    let external = required(&item.external_user_id, "ExternalUserId")?.clone();
    model::check_external_id("ExternalUserId", &external)?;
    let meeting_id = meeting.meeting_id.clone();
    let (m, e) = (meeting_id.clone(), external.clone());
    if let Some(existing) = ctx.db(move |s| s.attendee_by_external_id(&m, &e)).await? {
        let caps = Presets::of(ctx, &meeting_id)
            .await?
            .get(&existing.attendee_id);
        return Ok(view(&existing, caps));
    }
    let features: model::MeetingFeatures =
        serde_json::from_value(meeting.meeting["MeetingFeatures"].clone()).unwrap_or_default();
    let m = meeting_id.clone();
    let count = ctx.db(move |s| s.count_attendees(&m)).await?;
    if count as i64 >= features.max_count() {
        return Err(ChimeError::new(
            Kind::LimitExceeded,
            format!(
                "the meeting already has its maximum of {} attendees",
                features.max_count()
            ),
        ));
    }
    let attendee_id = uuid::Uuid::new_v4().to_string();
    // The preset first: it checks the capabilities against the meeting (seed 004's rules) and
    // is durable before the attendee exists.
    let caps =
        super::capabilities::set_preset(ctx, &meeting_id, &attendee_id, item.capabilities).await?;
    let record = ChimeAttendee {
        seq: 0,
        meeting_id: meeting_id.clone(),
        join_token: join_token(ctx, &meeting_id, &attendee_id, &external),
        attendee_id: attendee_id.clone(),
        external_user_id: external,
    };
    match ctx.db(move |s| s.save_attendee(&record)).await {
        Ok(saved) => Ok(view(&saved, caps)),
        Err(e) => {
            let undo = Command::DropPreset {
                identity: attendee_id,
            };
            let _ = ctx.command(&meeting_id, undo).await;
            Err(e)
        }
    }
}

/// Creates each attendee in turn; one that fails is reported in `Errors` and the others go on.
pub async fn create_many(
    ctx: &Ctx,
    meeting: &ChimeMeeting,
    items: &[CreateAttendeeItem],
) -> Result<(Vec<Value>, Vec<Value>), ChimeError> {
    let (mut created, mut errors) = (Vec::new(), Vec::new());
    for item in items {
        match create_one(ctx, meeting, item).await {
            Ok(a) => created.push(a),
            // The server failing is not the item's fault: the whole call fails.
            Err(e) if e.kind == Kind::ServiceFailure => return Err(e),
            Err(e) => {
                let mut error = json!({ "ErrorCode": e.kind.code(), "ErrorMessage": e.message });
                if let Some(id) = &item.external_user_id {
                    error["ExternalUserId"] = json!(id);
                }
                errors.push(error);
            }
        }
    }
    Ok((created, errors))
}

pub async fn create(ctx: &Ctx, meeting_id: &str, body: &[u8]) -> Result<Response, ChimeError> {
    let item: CreateAttendeeItem = model::shape(&model::parse_json(body)?)?;
    let _writes = ctx.shared.writes.lock().await;
    let meeting = meetings::find(ctx, meeting_id).await?;
    let attendee = create_one(ctx, &meeting, &item).await?;
    Ok(json(json!({ "Attendee": attendee })))
}

pub async fn batch_create(
    ctx: &Ctx,
    meeting_id: &str,
    body: &[u8],
) -> Result<Response, ChimeError> {
    let req: model::BatchCreateAttendeeRequest = model::shape(&model::parse_json(body)?)?;
    let items = required(&req.attendees, "Attendees")?;
    model::check_count("Attendees", items, 1, 100)?;
    let _writes = ctx.shared.writes.lock().await;
    let meeting = meetings::find(ctx, meeting_id).await?;
    let (attendees, errors) = create_many(ctx, &meeting, items).await?;
    Ok(json(json!({ "Attendees": attendees, "Errors": errors })))
}

pub async fn get(ctx: &Ctx, meeting_id: &str, attendee_id: &str) -> Result<Response, ChimeError> {
    let meeting = meetings::find(ctx, meeting_id).await?;
    let attendee = find(ctx, &meeting, attendee_id).await?;
    let caps = Presets::of(ctx, &meeting.meeting_id)
        .await?
        .get(&attendee.attendee_id);
    Ok(json(json!({ "Attendee": view(&attendee, caps) })))
}

/// In creation order; `NextToken` is where the next page starts.
pub async fn list(ctx: &Ctx, meeting_id: &str, query: &Query) -> Result<Response, ChimeError> {
    let page = match query.get("max-results") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ChimeError::bad_request("max-results must be 1 to 100"))?,
    };
    let after =
        match query.get("next-token") {
            None => 0,
            Some(t) => t.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ChimeError::bad_request("next-token is not a token this server gave")
            })?,
        };
    let meeting = meetings::find(ctx, meeting_id).await?;
    let m = meeting.meeting_id.clone();
    let mut rows = ctx
        .db(move |s| s.attendees(&m, after, page as usize + 1))
        .await?;
    let next = (rows.len() as i64 > page).then(|| {
        rows.truncate(page as usize);
        rows.last().map(|a| a.seq.to_string()).unwrap_or_default()
    });
    let presets = Presets::of(ctx, &meeting.meeting_id).await?;
    let attendees: Vec<Value> = rows
        .iter()
        .map(|a| view(a, presets.get(&a.attendee_id)))
        .collect();
    let mut out = json!({ "Attendees": attendees });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(json(out))
}

/// Voids the attendee's JoinToken, disconnects it if it is in the meeting
/// (`room_left {reason: kicked}`), and forgets it.
pub async fn delete(
    ctx: &Ctx,
    meeting_id: &str,
    attendee_id: &str,
) -> Result<Response, ChimeError> {
    let _writes = ctx.shared.writes.lock().await;
    let meeting = meetings::find(ctx, meeting_id).await?;
    let attendee = find(ctx, &meeting, attendee_id).await?;
    let (room, identity) = (meeting.meeting_id.clone(), attendee.attendee_id.clone());
    // One command: the token is void (committed) before the attendee, if present, is removed.
    let remove = Command::Kick {
        identity: Some(identity.clone()),
        identities: None,
        ban_seconds: None,
        revoke_tokens: true,
        revoke_before: None,
        require_present: false,
    };
    ctx.command(&room, remove).await?;
    let drop = Command::DropPreset {
        identity: identity.clone(),
    };
    if let Err(e) = ctx.command(&room, drop).await {
        if e.kind != Kind::NotFound {
            return Err(e);
        }
    }
    ctx.db(move |s| s.delete_attendee(&room, &identity)).await?;
    Ok(no_content())
}
