//! SendData: a data message from the server, delivered to clients as `data_received`.

use super::{auth, TwirpError};
use crate::http::AppState;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gavel_core::Claims;
use livekit_protocol as lk;

#[allow(deprecated)]
pub async fn send_data(
    state: &AppState,
    claims: &Claims,
    req: lk::SendDataRequest,
) -> Result<lk::SendDataResponse, TwirpError> {
    let mut destinations = req.destination_identities;
    if !req.destination_sids.is_empty() {
        // LiveKit's deprecated field: resolve session ids to identities here (a read; the
        // send itself is one command).
        let request = crate::service::ServiceRequest::Participants {
            room: req.room.clone(),
        };
        if let crate::service::ServiceReply::Participants { participants, .. } =
            auth::call(state, claims, request).await?
        {
            let sids = req.destination_sids;
            destinations.extend(
                participants
                    .into_iter()
                    .filter(|p| sids.contains(&p.sid))
                    .map(|p| p.identity),
            );
        }
    }
    let reliable = req.kind != lk::data_packet::Kind::Lossy as i32;
    let cmd = gavel_core::Command::SendData {
        payload: STANDARD.encode(&req.data),
        topic: req.topic,
        destination_identities: destinations,
        reliable,
    };
    auth::command(state, claims, &req.room, cmd).await?;
    Ok(lk::SendDataResponse {})
}
