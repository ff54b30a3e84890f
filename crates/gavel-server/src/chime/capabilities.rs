//! UpdateAttendeeCapabilities and BatchUpdateAttendeeCapabilitiesExcept: the core's presets.
//!
//! Capabilities map to permissions (Audio = microphone, Video = camera, Content = screen video
//! and audio; `Send` → `can_send`, `Receive` → `can_receive`). The core checks seed 004's rules
//! against the meeting's features and applies the change live to a connected attendee: a kind
//! it may no longer send is unpublished, and it receives `permissions_changed`.

use super::attendees::{self, view};
use super::model::{self, required};
use super::{json, meetings, ChimeError, Ctx, Kind};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gavel_core::{Capabilities, Command, Reply};
use serde_json::json;

pub async fn update(
    ctx: &Ctx,
    meeting_id: &str,
    attendee_id: &str,
    body: &[u8],
) -> Result<Response, ChimeError> {
    let req: model::UpdateCapabilitiesRequest = model::shape(&model::parse_json(body)?)?;
    let capabilities = *required(&req.capabilities, "Capabilities")?;
    let _writes = ctx.shared.writes.lock().await;
    let meeting = meetings::find(ctx, meeting_id).await?;
    let attendee = attendees::find(ctx, &meeting, attendee_id).await?;
    let set = set_preset(
        ctx,
        &meeting.meeting_id,
        &attendee.attendee_id,
        Some(capabilities),
    );
    Ok(json(json!({ "Attendee": view(&attendee, set.await?) })))
}

/// The core's `set_preset` (`None`: the meeting's defaults); returns the capabilities now set.
pub async fn set_preset(
    ctx: &Ctx,
    meeting_id: &str,
    attendee_id: &str,
    capabilities: Option<Capabilities>,
) -> Result<Capabilities, ChimeError> {
    let command = Command::SetPreset {
        identity: attendee_id.to_string(),
        capabilities,
    };
    match ctx.command(meeting_id, command).await? {
        Reply::Preset { capabilities, .. } => Ok(capabilities),
        other => Err(ChimeError::new(
            Kind::ServiceFailure,
            format!("unexpected reply to set_preset: {other:?}"),
        )),
    }
}

/// Every attendee of the meeting but the excluded ones gets the capabilities; checked whole
/// first (a refusal changes nobody). Excluded ids that name no attendee are ignored.
pub async fn batch_update_except(
    ctx: &Ctx,
    meeting_id: &str,
    body: &[u8],
) -> Result<Response, ChimeError> {
    let req: model::BatchUpdateExceptRequest = model::shape(&model::parse_json(body)?)?;
    let excluded = required(&req.excluded_attendee_ids, "ExcludedAttendeeIds")?;
    model::check_count("ExcludedAttendeeIds", excluded, 1, 250)?;
    let except = excluded
        .iter()
        .map(|item| model::check_guid("AttendeeId", required(&item.attendee_id, "AttendeeId")?))
        .collect::<Result<Vec<_>, _>>()?;
    let capabilities = *required(&req.capabilities, "Capabilities")?;
    let _writes = ctx.shared.writes.lock().await;
    let meeting = meetings::find(ctx, meeting_id).await?;
    let command = Command::SetPresetsExcept {
        except,
        capabilities,
    };
    ctx.command(&meeting.meeting_id, command).await?;
    Ok(StatusCode::OK.into_response())
}
