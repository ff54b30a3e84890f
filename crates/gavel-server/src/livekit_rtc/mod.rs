//! LiveKit's client signalling protocol: `GET /rtc` (WebSocket, binary protobuf
//! `SignalRequest` / `SignalResponse`), so LiveKit's client SDKs join Gavel rooms.
//!
//! A LiveKit session is a participant like any other: it joins through the same registry, its
//! requests go to the room as the same typed commands (`crate::service`), and it receives the
//! same events, which [`translate`] turns into LiveKit's messages for this one client. What
//! exists so far (`docs/compat-livekit.md`, "Client protocol"):
//!
//! - join: the token from `access_token` or `Authorization: Bearer`; the `JoinResponse`; the
//!   participants as `ParticipantUpdate`s with growing versions; active speakers; `Leave` with
//!   LiveKit's `DisconnectReason` when the session ends (a kick, a ban, the end of the room);
//! - the subscriber connection: the server offers (`subscriber_primary`), one m-line per track
//!   the room lets this participant receive, and the client answers; trickled candidates;
//! - `pingReq` and `ping` answered; `leave` honoured;
//! - `UpdateSubscription` and `UpdateTrackSettings` as the room's subscriptions and layers.
//!
//! Not yet: the publisher connection (`AddTrackRequest`, the client's offer), data packets,
//! resume. `/rtc/v1` (one connection for both directions)
//! answers 404, which makes current clients fall back to `/rtc`.

pub mod translate;

use crate::fanout::{Conn, Outgoing};
use crate::http::{ApiError, AppState};
use crate::websocket::{Socket, Upgrade};
use crate::ws::RtcParams;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use gavel_core::{Command, Error, ErrorCode, Event, JoinRequest, LeaveReason};
use governor::{Quota, RateLimiter};
use livekit_protocol as lk;
use lk::signal_request::Message as Request_;
use lk::signal_response::Message as Response_;
use prost::Message as _;
use std::num::NonZeroU32;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use translate::Translator;

/// Signal messages larger than this are refused (an SDP is a few KiB; LiveKit's own limit is
/// of the same order).
const MAX_SIGNAL_BYTES: usize = 256 * 1024;

/// `GET /rtc`: the WebSocket.
pub async fn rtc(
    State(app): State<AppState>,
    Query(params): Query<RtcParams>,
    headers: HeaderMap,
    mut request: Request,
) -> Response {
    let token = crate::http::access_token(params.access_token, &headers);
    let Some(token) = token else {
        return unauthorized("missing access token");
    };
    let (room, req, _claims) = match crate::ws::admit(&app, &token) {
        Ok(x) => x,
        Err(e) if e.code == ErrorCode::Unauthenticated => return unauthorized(&e.message),
        Err(e) => return ApiError(e).into_response(),
    };
    let upgrade = match Upgrade::required(&mut request) {
        Ok(u) => u,
        Err(e) => return ApiError(e).into_response(),
    };
    let config = Upgrade::config(MAX_SIGNAL_BYTES, 4096);
    upgrade.respond(config, move |socket| session(socket, app, room, req))
}

/// `GET /rtc/validate`: what a client asks after a failed connection, to tell a bad token
/// from a network problem. Any origin may ask (browser apps on other sites).
pub async fn validate(
    State(app): State<AppState>,
    Query(params): Query<RtcParams>,
    headers: HeaderMap,
) -> Response {
    let token = crate::http::access_token(params.access_token, &headers);
    let result = match token {
        None => Err(Error::new(
            ErrorCode::Unauthenticated,
            "missing access token",
        )),
        Some(t) => crate::ws::admit(&app, &t).map(|_| ()),
    };
    let (status, body) = match result {
        Ok(()) => (StatusCode::OK, "success".to_string()),
        Err(e) if e.code == ErrorCode::Unauthenticated => (StatusCode::UNAUTHORIZED, e.message),
        Err(e) if e.code == ErrorCode::PermissionDenied => (StatusCode::FORBIDDEN, e.message),
        Err(e) => (StatusCode::BAD_REQUEST, e.message),
    };
    (status, [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], body).into_response()
}

/// `/rtc/v1` and `/rtc/v1/validate`: LiveKit's single-connection protocol is not served; a 404
/// here is what makes LiveKit's clients fall back to `/rtc`.
pub async fn v1_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        "not found: this server speaks LiveKit's two-connection protocol on /rtc",
    )
        .into_response()
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        message.to_string(),
    )
        .into_response()
}

async fn send(sink: &mut crate::websocket::Sink, message: Response_, timeout: Duration) -> bool {
    let bytes = lk::SignalResponse {
        message: Some(message),
    }
    .encode_to_vec();
    matches!(
        tokio::time::timeout(timeout, sink.send(Message::Binary(bytes.into()))).await,
        Ok(Ok(()))
    )
}

async fn session(socket: Socket, app: AppState, room: String, req: JoinRequest) {
    let _counted = app.registry.session_started();
    let limits = app.registry.limits.clone();
    let timeout = Duration::from_millis(limits.write_timeout_ms);
    let (conn, mut rx) = Conn::channel(limits.outbox_capacity);
    let (mut sink, mut stream) = socket.split();
    let joined = Box::pin(crate::ws::join(&app, &room, req, conn)).await;
    let (mut handle, sid) = match joined {
        Ok(x) => x,
        Err(e) => {
            app.registry.metrics.error(e.code);
            tracing::info!(room, error = %e, "LiveKit client refused");
            let reason = match e.code {
                ErrorCode::Banned | ErrorCode::PermissionDenied => {
                    lk::DisconnectReason::ParticipantRemoved
                }
                _ => lk::DisconnectReason::JoinFailure,
            };
            let leave = Response_::Leave(lk::LeaveRequest {
                reason: reason as i32,
                action: lk::leave_request::Action::Disconnect as i32,
                ..Default::default()
            });
            send(&mut sink, leave, timeout).await;
            let _ = sink.close().await;
            return;
        }
    };
    // The subscriber connection: the server's first offer follows as an event.
    let opened = app.service.session_request(
        &handle,
        sid.clone(),
        serde_json::Value::Null,
        Command::MediaSubscribe,
    );
    if Box::pin(opened).await.is_err() {
        return;
    }
    let quota = Quota::per_second(NonZeroU32::new(limits.requests_per_second.max(1)).unwrap())
        .allow_burst(NonZeroU32::new(limits.request_burst.max(1)).unwrap());
    let limiter = RateLimiter::direct(quota);
    let mut translator = Translator::default();
    let mut reason = LeaveReason::Disconnected;
    loop {
        tokio::select! {
            biased;
            out = rx.recv() => match out {
                Some(Outgoing::Frame(f)) => {
                    for message in frame_messages(&mut translator, &f.with_seq(0)) {
                        let ends = matches!(message, Response_::Leave(_));
                        if !send(&mut sink, message, timeout).await {
                            reason = LeaveReason::SlowConsumer;
                            break;
                        }
                        if ends {
                            let _ = sink.close().await;
                            return;
                        }
                    }
                }
                Some(Outgoing::Switch(h)) => handle = h,
                Some(Outgoing::Close(why)) => {
                    send(&mut sink, translate::leave(why), timeout).await;
                    let _ = sink.close().await;
                    return;
                }
                None => {
                    send(&mut sink, translate::leave(LeaveReason::SlowConsumer), timeout).await;
                    let _ = sink.close().await;
                    return;
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    if limiter.check().is_err() {
                        app.registry.metrics.error(ErrorCode::RateLimited);
                        continue;
                    }
                    let Ok(request) = lk::SignalRequest::decode(bytes.as_ref()) else {
                        tracing::info!(%sid, "undecodable LiveKit signal request");
                        continue;
                    };
                    let Some(message) = request.message else { continue };
                    tracing::debug!(%sid, ?message, "LiveKit request");
                    let commands: Vec<Command> = match message {
                        Request_::PingReq(ping) => {
                            let pong = Response_::PongResp(lk::Pong {
                                last_ping_timestamp: ping.timestamp,
                                timestamp: now_ms(),
                            });
                            if !send(&mut sink, pong, timeout).await {
                                break;
                            }
                            Vec::new()
                        }
                        Request_::Ping(ts) => {
                            if !send(&mut sink, Response_::Pong(ts), timeout).await {
                                break;
                            }
                            Vec::new()
                        }
                        Request_::Answer(sd) => vec![Command::MediaAnswer { sdp: sd.sdp }],
                        Request_::Trickle(t) => candidate(&t)
                            .map(|c| Command::MediaCandidate { candidate: c, subscriber: true })
                            .into_iter()
                            .collect(),
                        Request_::Subscription(u) => subscriptions(&translator, &u),
                        Request_::TrackSetting(t) => track_settings(&t),
                        Request_::Leave(_) => {
                            reason = LeaveReason::Left;
                            vec![Command::Leave]
                        }
                        other => {
                            tracing::debug!(%sid, request = ?std::mem::discriminant(&other), "LiveKit request not served yet");
                            Vec::new()
                        }
                    };
                    for command in commands {
                        let sent = app.service.session_request(&handle, sid.clone(), serde_json::Value::Null, command);
                        if Box::pin(sent).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Text(_))) => {
                    tracing::info!(%sid, "text frame on LiveKit's protocol, which is binary");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(_)) | Some(Ok(Message::Close(_))) | None => break,
            }
        }
    }
    Box::pin(handle.disconnected(sid, reason)).await;
}

/// The LiveKit messages one frame from the room means: an event, translated; a response to
/// one of this session's requests, logged if it failed (LiveKit's protocol has no place for
/// it).
fn frame_messages(translator: &mut Translator, text: &str) -> Vec<Response_> {
    if let Ok(event) = serde_json::from_str::<Event>(text) {
        return translator.translate(event);
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        if v["type"] == "response" && v["ok"] == false {
            tracing::info!(error = %v["error"], "a LiveKit client's request was refused");
        }
    }
    Vec::new()
}

/// Track sids one LiveKit request may name; more are ignored (a client cannot make one
/// request cost the room unbounded work).
const MAX_TRACKS_PER_REQUEST: usize = 64;

/// `UpdateSubscription` as the room's subscriptions: per track, its publisher and source.
fn subscriptions(translator: &Translator, u: &lk::UpdateSubscription) -> Vec<Command> {
    let sids = u.track_sids.iter().chain(
        u.participant_tracks
            .iter()
            .flat_map(|p| p.track_sids.iter()),
    );
    sids.take(MAX_TRACKS_PER_REQUEST)
        .filter_map(|t| translator.track_owner(t))
        .map(|(identity, source)| Command::UpdateSubscription {
            identity,
            sources: vec![source],
            subscribed: Some(u.subscribe),
        })
        .collect()
}

/// `UpdateTrackSettings`: the quality a client wants becomes the simulcast layer it gets.
/// `disabled` (LiveKit's adaptive stream pausing a hidden video) is not acted on: the track
/// keeps flowing, at the layer asked for.
fn track_settings(t: &lk::UpdateTrackSettings) -> Vec<Command> {
    use gavel_core::Layer;
    let layer = match lk::VideoQuality::try_from(t.quality) {
        Ok(lk::VideoQuality::Low) => Some(Layer::Low),
        Ok(lk::VideoQuality::Medium) => Some(Layer::Medium),
        Ok(lk::VideoQuality::High) => Some(Layer::High),
        _ => return Vec::new(),
    };
    t.track_sids
        .iter()
        .take(MAX_TRACKS_PER_REQUEST)
        .map(|sid| Command::UpdateTrackSettings {
            track_sid: sid.clone(),
            layer,
        })
        .collect()
}

/// The candidate line of a trickled `RTCIceCandidateInit` (JSON), if it is one.
fn candidate(t: &lk::TrickleRequest) -> Option<String> {
    // Only the subscriber connection exists so far.
    if t.target != lk::SignalTarget::Subscriber as i32 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&t.candidate_init).ok()?;
    Some(v.get("candidate")?.as_str()?.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_come_from_the_json_and_only_for_the_subscriber() {
        let t = |target: lk::SignalTarget, init: &str| lk::TrickleRequest {
            candidate_init: init.into(),
            target: target as i32,
            ..Default::default()
        };
        let line = r#"{"candidate":"candidate:1 1 udp 1 10.0.0.2 5000 typ host","sdpMid":"0"}"#;
        assert_eq!(
            candidate(&t(lk::SignalTarget::Subscriber, line)).as_deref(),
            Some("candidate:1 1 udp 1 10.0.0.2 5000 typ host")
        );
        assert_eq!(candidate(&t(lk::SignalTarget::Publisher, line)), None);
        assert_eq!(
            candidate(&t(lk::SignalTarget::Subscriber, "not json")),
            None
        );
    }
}
