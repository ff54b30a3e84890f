//! CreateMeeting, CreateMeetingWithAttendees, GetMeeting, DeleteMeeting.
//!
//! A meeting is a room created through the API (durable, like `POST /v1/rooms`) named by its
//! `MeetingId`; its `MeetingFeatures` become the room's resolutions and `max_participants`.

use super::model::{self, required, CreateMeetingRequest};
use super::store::ChimeMeeting;
use super::{attendees, json, no_content, ChimeError, Ctx, Kind};
use axum::response::Response;
use gavel_core::{LeaveReason, RoomSettings};
use serde_json::{json, Value};

/// The AWS account shown in meeting ARNs: Gavel has none.
const ACCOUNT: &str = "000000000000";

/// Checks a CreateMeeting(WithAttendees) request whole; returns the meeting document to keep
/// (without `MeetingId` and `MeetingArn`) and the room settings.
fn validate(
    ctx: &Ctx,
    req: &CreateMeetingRequest,
    with_attendees: bool,
) -> Result<(Value, RoomSettings), ChimeError> {
    model::check_client_request_token(required(&req.client_request_token, "ClientRequestToken")?)?;
    let region = required(&req.media_region, "MediaRegion")?;
    model::check_region(region)?;
    let external = required(&req.external_meeting_id, "ExternalMeetingId")?;
    model::check_external_id("ExternalMeetingId", external)?;
    if let Some(host) = &req.meeting_host_id {
        model::check_external_id("MeetingHostId", host)?;
    }
    if let Some(primary) = &req.primary_meeting_id {
        model::check_len("PrimaryMeetingId", primary, 2, 64)?;
    }
    if let Some(ids) = &req.tenant_ids {
        model::check_tenant_ids(ids)?;
    }
    if let Some(tags) = &req.tags {
        model::check_tags(tags)?;
    }
    if let Some(n) = &req.notifications_configuration {
        model::check_notifications(n)?;
    }
    if with_attendees {
        model::check_count("Attendees", required(&req.attendees, "Attendees")?, 1, 20)?;
    }
    let features = model::effective_features(req.meeting_features.as_ref())?;
    let settings = RoomSettings {
        video_max_resolution: features.video_max(),
        content_max_resolution: features.content_max(),
        max_participants: features.max_count() as u32,
        ..ctx.state.registry.room_defaults.clone()
    };
    let mut doc = json!({
        "ExternalMeetingId": external,
        "MediaRegion": region,
        "MeetingFeatures": features,
    });
    for (key, v) in [
        (
            "MeetingHostId",
            req.meeting_host_id.as_ref().map(|s| json!(s)),
        ),
        (
            "PrimaryMeetingId",
            req.primary_meeting_id.as_ref().map(|s| json!(s)),
        ),
        ("TenantIds", req.tenant_ids.as_ref().map(|t| json!(t))),
    ] {
        if let Some(v) = v {
            doc[key] = v;
        }
    }
    Ok((doc, settings))
}

/// The meeting as the API returns it: the kept document plus `MediaPlacement`, which points at
/// this server as the client reached it.
pub fn view(ctx: &Ctx, m: &ChimeMeeting) -> Value {
    let mut v = m.meeting.clone();
    v["MediaPlacement"] = json!({
        "SignalingUrl": format!("ws://{}/v1/rtc", ctx.host),
    });
    v
}

pub async fn create(ctx: &Ctx, body: &[u8], with_attendees: bool) -> Result<Response, ChimeError> {
    let raw = model::parse_json(body)?;
    let req: CreateMeetingRequest = model::shape(&raw)?;
    let (doc, settings) = validate(ctx, &req, with_attendees)?;
    let token = req.client_request_token.clone().unwrap_or_default();
    // A retry with the same token must be the same request; the token itself is left out.
    let mut fingerprint = raw;
    if let Some(m) = fingerprint.as_object_mut() {
        m.remove("ClientRequestToken");
        m.insert("operation".into(), json!(with_attendees));
    }
    let fingerprint = fingerprint.to_string();

    let _writes = ctx.shared.writes.lock().await;
    let lookup = token.clone();
    let meeting = match ctx.db(move |s| s.meeting_by_token(&lookup)).await? {
        Some(m) if m.fingerprint == fingerprint => m,
        Some(_) => {
            return Err(ChimeError::new(
                Kind::Conflict,
                "this ClientRequestToken was already used for a different request",
            ))
        }
        None => create_room(ctx, token, fingerprint, doc, settings).await?,
    };
    let mut out = json!({ "Meeting": view(ctx, &meeting) });
    if with_attendees {
        let items = req.attendees.unwrap_or_default();
        let (list, errors) = attendees::create_many(ctx, &meeting, &items).await?;
        out["Attendees"] = json!(list);
        out["Errors"] = json!(errors);
    }
    Ok(json(out))
}

/// Opens the room and records the meeting (room and meeting in one transaction).
async fn create_room(
    ctx: &Ctx,
    token: String,
    fingerprint: String,
    mut doc: Value,
    settings: RoomSettings,
) -> Result<ChimeMeeting, ChimeError> {
    let id = uuid::Uuid::new_v4().to_string();
    let region = doc["MediaRegion"].as_str().unwrap_or_default().to_string();
    doc["MeetingId"] = json!(id);
    doc["MeetingArn"] = json!(format!("arn:aws:chime:{region}:{ACCOUNT}:meeting/{id}"));
    let registry = &ctx.state.registry;
    registry.get_or_create(&id, Some(settings.clone()), true)?;
    let meeting = ChimeMeeting {
        meeting_id: id.clone(),
        client_request_token: token,
        fingerprint,
        meeting: doc,
    };
    let record = meeting.clone();
    if let Err(e) = ctx.db(move |s| s.save_meeting(&record, &settings)).await {
        // Not acknowledged, so not kept: the room goes too.
        let _ = registry.delete(&id, LeaveReason::RoomDeleted).await;
        return Err(e);
    }
    Ok(meeting)
}

/// The meeting named in a path, or `NotFoundException`.
pub async fn find(ctx: &Ctx, meeting_id: &str) -> Result<ChimeMeeting, ChimeError> {
    let id = model::check_guid("MeetingId", meeting_id)?;
    let lookup = id.clone();
    ctx.db(move |s| s.meeting(&lookup))
        .await?
        .ok_or_else(|| ChimeError::not_found(format!("the meeting {id} does not exist")))
}

pub async fn get(ctx: &Ctx, meeting_id: &str) -> Result<Response, ChimeError> {
    let meeting = find(ctx, meeting_id).await?;
    Ok(json(json!({ "Meeting": view(ctx, &meeting) })))
}

/// Ends the meeting: everyone in it gets `room_left {reason: ended}`; the room, its attendees
/// and their join tokens are gone.
pub async fn delete(ctx: &Ctx, meeting_id: &str) -> Result<Response, ChimeError> {
    let _writes = ctx.shared.writes.lock().await;
    let meeting = find(ctx, meeting_id).await?;
    let id = meeting.meeting_id;
    // Ending the session first names the caller in `room_left` and in the audit log; through
    // the service layer, so whichever node serves the room does it. A room that is not open
    // anywhere has nobody to tell.
    match ctx.command(&id, gavel_core::Command::EndSession).await {
        Ok(_) => {
            let request = crate::service::ServiceRequest::DeleteRoom { room: id.clone() };
            match ctx.state.service.call(&ctx.principal(), request).await {
                Ok(_) => {}
                Err(e) if e.code == gavel_core::ErrorCode::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) if e.kind == Kind::NotFound => {}
        Err(e) => return Err(e),
    }
    // The join tokens die with the meeting: a late join would otherwise open a new, empty room
    // of the same name. The revocation is kept in the store, where a room of that name would
    // load it.
    let now = crate::clock::now_ms();
    ctx.db(move |s| s.end_meeting(&id, now)).await?;
    Ok(no_content())
}
