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
//! - `UpdateSubscription` and `UpdateTrackSettings` as the room's subscriptions and layers;
//! - publishing ([`requests`]): `AddTrackRequest` reserves the track's sid, the client's offer
//!   on its publisher connection is the room's `media_offer`; mutes both ways;
//! - data ([`data`]): user packets on the client's data channels are its `send_data`, and
//!   `data_received` reaches it as a packet on its subscriber connection's channels (both done
//!   by the room's media glue, `media/room.rs`, which owns the channels).
//!
//! - connection quality from the room's `connection_quality`;
//! - Gavel's extras on reserved data topics (`gavel.event`, `gavel.command`,
//!   `gavel.response`; [`data`]).
//!
//! A resume (`reconnect=1`) is answered with `Leave` and action RECONNECT: sessions do not
//! survive their socket yet, so the client joins afresh. `/rtc/v1` (one connection for both
//! directions) answers 404, which makes current clients fall back to `/rtc`.

pub mod data;
pub mod parked;
pub mod requests;
pub mod translate;

use crate::fanout::{Conn, Outgoing, WeakConn};
use crate::http::{ApiError, AppState};
use crate::websocket::{Socket, Upgrade};
use crate::ws::RtcParams;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use gavel_core::{Claims, Command, Error, ErrorCode, Event, JoinRequest, LeaveReason};
use governor::RateLimiter;
use livekit_protocol as lk;
use lk::signal_request::Message as Request_;
use lk::signal_response::Message as Response_;
use parked::Parked;
use prost::Message as _;
use requests::{Handled, Requests};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use translate::Translator;

/// Signal messages larger than this are refused (an SDP is a few KiB; LiveKit's own limit is
/// of the same order).
const MAX_SIGNAL_BYTES: usize = 256 * 1024;

/// The query of `GET /rtc` that matters here (LiveKit's clients send more: `sdk`, `version`,
/// `protocol`, `auto_subscribe`, …, which are ignored).
#[derive(serde::Deserialize)]
pub struct LiveKitParams {
    access_token: Option<String>,
    /// Set when a client tries to resume its session after a network blip, with its `sid`.
    #[serde(default)]
    reconnect: Option<String>,
    #[serde(default)]
    sid: Option<String>,
}

/// `GET /rtc`: the WebSocket.
pub async fn rtc(
    State(app): State<AppState>,
    Query(params): Query<LiveKitParams>,
    headers: HeaderMap,
    mut request: Request,
) -> Response {
    let token = crate::http::access_token(params.access_token, &headers);
    let Some(token) = token else {
        return unauthorized("missing access token");
    };
    let (room, req, claims) = match crate::ws::admit(&app, &token) {
        Ok(x) => x,
        Err(e) if e.code == ErrorCode::Unauthenticated => return unauthorized(&e.message),
        Err(e) => return ApiError(e).into_response(),
    };
    let upgrade = match Upgrade::required(&mut request) {
        Ok(u) => u,
        Err(e) => return ApiError(e).into_response(),
    };
    let config = Upgrade::config(MAX_SIGNAL_BYTES, 4096);
    let host = crate::http::request_host(&headers);
    if matches!(params.reconnect.as_deref(), Some("1" | "true")) {
        let sid = params.sid.unwrap_or_default();
        return upgrade.respond(config, move |socket| {
            resume(socket, app, room, req, claims, host, sid)
        });
    }
    upgrade.respond(config, move |socket| {
        session(socket, app, room, req, claims, host)
    })
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

/// A LiveKit session on its socket, joined or resumed.
struct Live {
    app: AppState,
    claims: Claims,
    host: Option<String>,
    route: crate::ws::Route,
    sid: String,
    /// Its connection as the room knows it (a late end of a socket that was taken over by a
    /// resume is told apart by it).
    conn: WeakConn,
    rx: tokio::sync::mpsc::Receiver<Outgoing>,
    translator: Translator,
    requests: Requests,
}

async fn session(
    socket: Socket,
    app: AppState,
    room: String,
    req: JoinRequest,
    claims: Claims,
    host: Option<String>,
) {
    let _counted = app.registry.session_started();
    let limits = app.registry.limits.clone();
    let timeout = Duration::from_millis(limits.write_timeout_ms);
    // Pinned: its peer connections are not renegotiated after a move, so it is never moved
    // into a room another node serves.
    let (conn, rx) = Conn::pinned_channel(limits.outbox_capacity);
    let (mut sink, stream) = socket.split();
    let weak = conn.downgrade();
    // In cluster mode the room may be served by another node: this one is then the session's
    // edge, as for the native protocol (`cluster/edge.rs`).
    let joined = Box::pin(crate::ws::join_anywhere(&app, &room, req, conn)).await;
    let (route, sid) = match joined {
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
            let disconnect = lk::leave_request::Action::Disconnect;
            leave_and_close(&mut sink, reason, disconnect, timeout).await;
            return;
        }
    };
    let live = Live {
        app,
        claims,
        host,
        route,
        sid,
        conn: weak,
        rx,
        translator: Translator::default(),
        requests: Requests::default(),
    };
    run(live, sink, stream).await;
}

/// `reconnect=1&sid=…`: the client resumes session `sid` after a network blip, through any
/// node. When the room still holds the session and what its socket's task knew (`parked.rs`),
/// it gets a `ReconnectResponse`, what changed meanwhile as updates, and an ICE restart offer
/// on its subscriber connection (its SDK restarts the publisher's itself); nobody else sees
/// it leave. Otherwise it is told to join again (`Leave` with action RECONNECT), as LiveKit's
/// server does.
async fn resume(
    socket: Socket,
    app: AppState,
    room: String,
    req: JoinRequest,
    claims: Claims,
    host: Option<String>,
    sid: String,
) {
    let _counted = app.registry.session_started();
    let limits = app.registry.limits.clone();
    let timeout = Duration::from_millis(limits.write_timeout_ms);
    let (mut sink, stream) = socket.split();
    let (conn, rx) = Conn::pinned_channel(limits.outbox_capacity);
    let weak = conn.downgrade();
    let wanted = crate::ws::Resume {
        sid: sid.clone(),
        last_seq: 0,
        last_ev: None,
    };
    let resumed = Box::pin(crate::ws::resume_anywhere(&app, &room, &wanted, &req, conn)).await;
    let restored = match resumed {
        Some((route, sid, kept)) => match kept.as_deref().and_then(Parked::restore) {
            Some(state) => Some((route, sid, state)),
            None => {
                // A session that kept nothing to go on with (not a LiveKit one, or its state
                // was too large): it ends, and the client joins afresh.
                route
                    .ended(sid, LeaveReason::Disconnected, false, weak.clone(), None)
                    .await;
                None
            }
        },
        None => None,
    };
    let Some((route, sid, (mut translator, requests))) = restored else {
        tracing::debug!(room, sid, "LiveKit resume refused: the client joins again");
        let reason = lk::DisconnectReason::StateMismatch;
        leave_and_close(
            &mut sink,
            reason,
            lk::leave_request::Action::Reconnect,
            timeout,
        )
        .await;
        return;
    };
    let reconnected = Response_::Reconnect(lk::ReconnectResponse {
        ice_servers: lk_ice_servers(route.ice_servers(&app, &sid, host.as_deref())),
        server_info: Some(translate::server_info()),
        ..Default::default()
    });
    if !send(&mut sink, reconnected, timeout).await {
        // Broke again at once: still resumable for the rest of its grace period.
        let kept = Parked::keep(translator, &requests);
        route
            .ended(sid, LeaveReason::Disconnected, true, weak, kept)
            .await;
        return;
    }
    // The room queued its snapshot: told as what changed.
    translator.resync();
    if !subscribe(&route, &app, &sid, true).await {
        return;
    }
    let live = Live {
        app,
        claims,
        host,
        route,
        sid,
        conn: weak,
        rx,
        translator,
        requests,
    };
    run(live, sink, stream).await;
}

/// Opens the session's subscriber connection, or (`restart_ice`, after a resume) restarts its
/// ICE; the offer follows as an event. False: the room is gone.
async fn subscribe(route: &crate::ws::Route, app: &AppState, sid: &str, restart_ice: bool) -> bool {
    let command = Command::MediaSubscribe { restart_ice };
    let sent = route.request(app, sid, serde_json::Value::Null, command);
    Box::pin(sent).await.is_ok()
}

/// Tells the client to leave (with `action`: disconnect, or reconnect afresh) and closes.
async fn leave_and_close(
    sink: &mut crate::websocket::Sink,
    reason: lk::DisconnectReason,
    action: lk::leave_request::Action,
    timeout: Duration,
) {
    let leave = Response_::Leave(lk::LeaveRequest {
        reason: reason as i32,
        action: action as i32,
        ..Default::default()
    });
    send(sink, leave, timeout).await;
    let _ = sink.close().await;
}

fn lk_ice_servers(servers: Vec<crate::turn::IceServer>) -> Vec<lk::IceServer> {
    servers
        .into_iter()
        .map(|s| lk::IceServer {
            urls: s.urls,
            username: s.username,
            credential: s.credential,
        })
        .collect()
}

/// The session's life on its socket. A socket that ends without the client's `leave` (it
/// broke, or its SDK is about to resume) leaves the session suspended in the room for the
/// grace period, and what this task knew parked for the resume.
async fn run(
    mut live: Live,
    mut sink: crate::websocket::Sink,
    mut stream: futures_util::stream::SplitStream<Socket>,
) {
    let app = live.app.clone();
    let limits = app.registry.limits.clone();
    let timeout = Duration::from_millis(limits.write_timeout_ms);
    let limiter = RateLimiter::direct(limits.request_quota());
    let mut reason = LeaveReason::Disconnected;
    loop {
        tokio::select! {
            biased;
            out = live.rx.recv() => match out {
                Some(Outgoing::Frame(f)) => {
                    for mut message in frame_messages(&mut live.translator, &mut live.requests, &f.with_seq(0)) {
                        if let Response_::Join(join) = &mut message {
                            join.ice_servers = lk_ice_servers(live.route.ice_servers(&app, &live.sid, live.host.as_deref()));
                        }
                        if let Response_::RoomMoved(moved) = &mut message {
                            moved.token = token_for(&app, &live.claims, moved.room.as_ref().map_or("", |r| &r.name));
                        }
                        let ends = matches!(message, Response_::Leave(_));
                        let joined = matches!(message, Response_::Join(_));
                        if !send(&mut sink, message, timeout).await {
                            reason = LeaveReason::SlowConsumer;
                            break;
                        }
                        // The subscriber connection, once in the room (a session in the
                        // waiting room gets its `JoinResponse` when admitted): the server's
                        // first offer follows as an event.
                        if joined && !subscribe(&live.route, &app, &live.sid, false).await {
                            break;
                        }
                        if ends {
                            let _ = sink.close().await;
                            return;
                        }
                    }
                }
                Some(out @ (Outgoing::Switch(_) | Outgoing::Rejoined(..) | Outgoing::Edged(_))) => {
                    // LiveKit's protocol has no message for new ICE servers: after a room is
                    // taken over, the client keeps those of its join (docs/cluster.md).
                    live.route.follow(&app, &out, &mut live.sid);
                }
                Some(Outgoing::Close(why)) => {
                    send(&mut sink, translate::leave(why), timeout).await;
                    let _ = sink.close().await;
                    return;
                }
                None => {
                    // The room dropped this connection: its queue overflowed, or a resume
                    // took the session over from this (half-open) socket.
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
                        tracing::info!(sid = %live.sid, "undecodable LiveKit signal request");
                        continue;
                    };
                    let Some(message) = request.message else { continue };
                    tracing::debug!(sid = %live.sid, ?message, "LiveKit request");
                    let translator = &live.translator;
                    let handled = match message {
                        Request_::PingReq(ping) => Handled::Reply(Box::new(Response_::PongResp(lk::Pong {
                            last_ping_timestamp: ping.timestamp,
                            timestamp: now_ms(),
                        }))),
                        Request_::Ping(ts) => Handled::Reply(Box::new(Response_::Pong(ts))),
                        Request_::Leave(_) => {
                            reason = LeaveReason::Left;
                            Handled::Commands(vec![(serde_json::Value::Null, Command::Leave)])
                        }
                        other => live.requests.handle(other, |t| translator.track_owner(t)),
                    };
                    match handled {
                        Handled::Reply(message) => {
                            if !send(&mut sink, *message, timeout).await {
                                break;
                            }
                        }
                        Handled::Commands(commands) => {
                            for (id, command) in commands {
                                // A request while the room changes hands is dropped (LiveKit's
                                // requests have no error response; the client retries).
                                if live.route.request(&app, &live.sid, id, command).await.is_err() {
                                    break;
                                }
                            }
                        }
                        Handled::Nothing => {}
                    }
                }
                Some(Ok(Message::Text(_))) => {
                    tracing::info!(sid = %live.sid, "text frame on LiveKit's protocol, which is binary");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(_)) | Some(Ok(Message::Close(_))) | None => break,
            }
        }
    }
    // LiveKit's clients say `leave` when they mean it; a socket that ends otherwise may resume.
    let suspend = reason == LeaveReason::Disconnected;
    let kept = match suspend {
        true => Parked::keep(live.translator, &live.requests),
        false => None,
    };
    live.route
        .ended(live.sid, reason, suspend, live.conn, kept)
        .await;
}

/// The LiveKit messages one frame from the room means: an event, translated; a response to
/// one of this session's requests, answered if the client waits for it.
fn frame_messages(
    translator: &mut Translator,
    requests: &mut Requests,
    text: &str,
) -> Vec<Response_> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    if v["type"] == "response" {
        return requests.response(&v).into_iter().collect();
    }
    match serde_json::from_value::<Event>(v) {
        Ok(event) => translator.translate(event),
        Err(_) => Vec::new(),
    }
}

/// A token like the session's own for `room`, which a moved client reconnects with (LiveKit's
/// `RoomMovedResponse.token`), signed with the same API key; empty if that key is gone.
fn token_for(app: &AppState, claims: &Claims, room: &str) -> String {
    let Some(secret) = app.verifier.secret(&claims.iss) else {
        return String::new();
    };
    let now = (now_ms() / 1000) as u64;
    let mut c = claims.clone();
    c.video.room = Some(room.to_string());
    c.iat = Some(now);
    c.nbf = Some(now);
    crate::auth::sign(&c, secret)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
