//! The WebSocket client protocol: `GET /v1/rtc?access_token=…`.
//!
//! One task per connection. It joins the room, then interleaves two things: writing what the
//! room queued for it (each frame stamped with this connection's `seq`) and reading requests,
//! which it validates and forwards to the room. Responses come back through the same queue as
//! events, so a client sees the events a request caused before its response.

use crate::fanout::{Conn, Frame, Outgoing, WeakConn};
use crate::http::{ApiError, AppState};
use crate::service::{Principal, ServiceRequest};
use crate::websocket::{Socket, Upgrade};
use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use gavel_core::{Claims, Command, Error, ErrorCode, JoinRequest, LeaveReason};
use governor::RateLimiter;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Transport-level cap: frames above this are refused by the WebSocket layer itself.
const TRANSPORT_MAX_MESSAGE: usize = 1024 * 1024;
/// Initial read buffer per connection. Requests are small (an audio level is ~50 bytes) and the
/// buffer grows for a larger frame; 4 KiB here cost 3.5 KiB per idle participant at 10,000.
const READ_BUFFER: usize = 512;

/// The query of a client's WebSocket (here and LiveKit's `/rtc`).
#[derive(Deserialize)]
pub struct RtcParams {
    pub(crate) access_token: Option<String>,
    /// Resuming: the session id, and the last `seq` and `ev` the client received
    /// (docs/protocol.md, "Resuming a session").
    #[serde(default)]
    pub(crate) resume: Option<String>,
    #[serde(default)]
    pub(crate) last_seq: Option<u64>,
    #[serde(default)]
    pub(crate) last_ev: Option<u64>,
}

/// A client's request to resume its session.
pub(crate) struct Resume {
    pub(crate) sid: String,
    pub(crate) last_seq: u64,
    /// `None`: the client keeps no numbering and is sent a fresh snapshot (LiveKit's).
    pub(crate) last_ev: Option<u64>,
}

pub async fn rtc(
    State(app): State<AppState>,
    Query(params): Query<RtcParams>,
    headers: HeaderMap,
    mut request: Request,
) -> Response {
    let token = crate::http::access_token(params.access_token, &headers);
    let Some(token) = token else {
        return ApiError(Error::new(
            ErrorCode::Unauthenticated,
            "missing access_token",
        ))
        .into_response();
    };
    let (room, req, claims) = match admit(&app, &token) {
        Ok(x) => x,
        Err(e) => return ApiError(e).into_response(),
    };
    let upgrade = match Upgrade::required(&mut request) {
        Ok(u) => u,
        Err(e) => return ApiError(e).into_response(),
    };
    let config = Upgrade::config(TRANSPORT_MAX_MESSAGE, READ_BUFFER);
    let claims = Box::new(claims);
    let host = crate::http::request_host(&headers);
    let resume = match (params.resume, params.last_seq, params.last_ev) {
        (Some(sid), Some(last_seq), Some(last_ev)) => Some(Resume {
            sid,
            last_seq,
            last_ev: Some(last_ev),
        }),
        (None, None, None) => None,
        _ => {
            return ApiError(Error::invalid(
                "resume needs resume (the session id), last_seq and last_ev together",
            ))
            .into_response()
        }
    };
    upgrade.respond(config, move |socket| {
        session(socket, app, room, req, claims, host, resume)
    })
}

/// Token → room name and join request. Room-level refusals (ban, full) come after the upgrade,
/// in-band, so browsers can show them.
pub(crate) fn admit(app: &AppState, token: &str) -> Result<(String, JoinRequest, Claims), Error> {
    let claims = app.verifier.verify(token)?;
    let room = claims.video.room.clone().unwrap_or_default();
    let (role, permissions) = claims.join_grant(&room, &app.registry.roles)?;
    gavel_core::ids::validate_room_name(&room)?;
    let issued_at = claims.iat.or(claims.nbf).map(|s| s * 1000);
    let req = JoinRequest {
        issued_at,
        identity: claims.sub.clone(),
        name: claims.name.clone().unwrap_or_default(),
        metadata: claims.metadata.clone().unwrap_or_default(),
        attributes: claims.attributes.clone().unwrap_or_default(),
        role,
        permissions,
        bypass_lock: claims.video.bypass_lock == Some(true),
        bypass_waiting_room: claims.video.bypass_waiting_room == Some(true),
    };
    // The room checks these too; checking first keeps a refused join from creating the room.
    gavel_core::ids::validate_identity(&req.identity)?;
    gavel_core::ids::validate_name(&req.name)?;
    gavel_core::ids::validate_metadata(&req.metadata)?;
    for (k, v) in &req.attributes {
        gavel_core::ids::validate_attribute(k, v)?;
    }
    Ok((room, req, claims))
}

struct Writer {
    sink: crate::websocket::Sink,
    seq: u64,
    timeout: Duration,
}

impl Writer {
    async fn frame(&mut self, frame: &Frame) -> bool {
        self.send(frame).await.is_ok()
    }

    /// Writes one frame; on failure says why the session ends: a write that blocks past the
    /// timeout means the client stopped reading.
    async fn send(&mut self, frame: &Frame) -> Result<(), LeaveReason> {
        self.seq += 1;
        let text = frame.with_seq(self.seq);
        let sent = crate::websocket::send_text(&mut self.sink, text);
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(LeaveReason::Disconnected),
            Err(_) => Err(LeaveReason::SlowConsumer),
        }
    }

    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        let _ =
            tokio::time::timeout(self.timeout, self.sink.send(Message::Close(Some(frame)))).await;
    }
}

fn reason_str(reason: LeaveReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn session(
    socket: Socket,
    app: AppState,
    room: String,
    req: JoinRequest,
    claims: Box<Claims>,
    host: Option<String>,
    resume: Option<Resume>,
) {
    let _counted = app.registry.session_started();
    let limits = app.registry.limits.clone();
    let (conn, mut rx) = Conn::channel(limits.outbox_capacity);
    let (sink, mut stream) = socket.split();
    let mut w = Writer {
        sink,
        seq: 0,
        timeout: Duration::from_millis(limits.write_timeout_ms),
    };
    // Run-once and rare futures are boxed: the session's own future lives as long as the
    // connection, and its size is that of its largest await (docs/benchmarks.md, idle memory).
    let me = conn.downgrade();
    // A session that resumes continues its numbering; one that cannot is a fresh join.
    let resumed = match &resume {
        Some(r) => Box::pin(resume_anywhere(&app, &room, r, &req, conn.clone())).await,
        None => None,
    };
    let joined = match (resumed, &resume) {
        (Some((route, sid, _)), Some(r)) => {
            w.seq = r.last_seq;
            Ok((route, sid))
        }
        // Not resumable (kicked, banned, ended, its grace period passed, or an unknown
        // session): the client is told so, and joins afresh if it wants to.
        (None, Some(_)) => Err(Error::not_found(
            "this session cannot be resumed (it ended, or its grace period passed): join again",
        )),
        _ => Box::pin(join_anywhere(&app, &room, req, conn)).await,
    };
    let (mut route, mut sid) = match joined {
        Ok(x) => x,
        Err(e) => {
            app.registry.metrics.error(e.code);
            let frame = Frame::error(&e);
            w.frame(&frame).await;
            w.close(1008, e.code.as_str()).await;
            return;
        }
    };
    let limiter = RateLimiter::direct(limits.request_quota());
    let mut reason = LeaveReason::Disconnected;
    // Whether the connection broke (no close frame): the session may resume.
    let mut broke = true;
    // Set when the client broke the protocol: the close frame that says how.
    let mut violation = None;
    // Sent right after `joined`, the first frame (a resumed session has them already; one in
    // the waiting room gets them once admitted).
    let servers = match resume {
        Some(_) => Vec::new(),
        None => route.ice_servers(&app, &sid, host.as_deref()),
    };
    let mut ice = (!servers.is_empty()).then(|| Frame::ice_servers(&servers));
    loop {
        tokio::select! {
            biased;
            out = rx.recv() => match out {
                Some(Outgoing::Frame(f)) => {
                    if let Err(why) = w.send(&f).await {
                        tracing::info!(%sid, reason = reason_str(why), "client write failed");
                        reason = why;
                        break;
                    }
                    if let Some(ice) = ice.take_if(|_| f.is_snapshot()) {
                        if let Err(why) = w.send(&ice).await {
                            reason = why;
                            break;
                        }
                    }
                }
                Some(out @ (Outgoing::Switch(_) | Outgoing::Rejoined(..) | Outgoing::Edged(_))) => {
                    if route.follow(&app, &out, &mut sid) {
                        // Its next media session is with this node: this node's ICE servers,
                        // after its new snapshot (a move's comes after the switch; a room
                        // taken over queued it before saying so).
                        let servers = app.ice_servers.for_participant(&sid, host.as_deref());
                        if !servers.is_empty() {
                            let frame = Frame::ice_servers(&servers);
                            if matches!(out, Outgoing::Rejoined(..)) {
                                if let Err(why) = w.send(&frame).await {
                                    reason = why;
                                    break;
                                }
                            } else {
                                ice = Some(frame);
                            }
                        }
                    }
                }
                Some(Outgoing::Close(reason)) => {
                    w.close(1000, &reason_str(reason)).await;
                    return;
                }
                None => {
                    // The room dropped this connection: its queue overflowed.
                    w.close(1008, "slow_consumer").await;
                    return;
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let parsed = if limiter.check().is_err() {
                        Err((request_id(&text), Error::new(ErrorCode::RateLimited, format!(
                            "more than {} requests per second", limits.requests_per_second))))
                    } else {
                        parse_request(&text, limits.max_message_bytes)
                    };
                    match parsed {
                        Ok((id, command @ (Command::Move { .. } | Command::OpenBreakouts { .. }))) => {
                            // A move touches two rooms, and opening breakouts creates rooms and
                            // moves people: the service authorizes every room they touch.
                            let Some((room, sid)) = route.current(&sid) else {
                                let e = Error::new(ErrorCode::Unavailable, "the room is moving to another node; send the request again");
                                if !w.frame(&Frame::response(&id, &Err(e))).await {
                                    break;
                                }
                                continue;
                            };
                            let principal = Principal::Session {
                                room,
                                sid,
                                claims: (*claims).clone(),
                            };
                            tokio::spawn(run_in_service(app.clone(), principal, me.clone(), id, command));
                        }
                        Ok((id, command)) => {
                            match route.request(&app, &sid, id.clone(), command).await {
                                Ok(true) => {}
                                Ok(false) => {
                                    let e = Error::new(ErrorCode::Unavailable, "the room is moving to another node; send the request again");
                                    if !w.frame(&Frame::response(&id, &Err(e))).await {
                                        break;
                                    }
                                }
                                Err(()) => break,
                            }
                        }
                        Err((id, e)) => {
                            app.registry.metrics.error(e.code);
                            if !w.frame(&Frame::response(&id, &Err(e))).await {
                                break;
                            }
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let e = Error::invalid("binary frames are not supported; send JSON text");
                    if !w.frame(&Frame::response(&Value::Null, &Err(e))).await {
                        break;
                    }
                }
                // Pings are answered by the library; raw frames never come out of a read.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => {
                    violation = crate::websocket::violation_close(&e);
                    if violation.is_some() {
                        tracing::info!(%sid, error = %e, "client broke the WebSocket protocol");
                        broke = false;
                    }
                    break;
                }
                Some(Ok(Message::Close(_))) => {
                    broke = false;
                    break;
                }
                None => break,
            }
        }
    }
    let suspend = broke && reason == LeaveReason::Disconnected;
    route.ended(sid, reason, suspend, me, None).await;
    if let Some(frame) = violation {
        Box::pin(crate::websocket::fail(w.sink, stream, frame, w.timeout)).await;
    }
}

/// Runs a participant's move (or breakout opening) through the service; the response is queued
/// on its connection after the events it caused (it runs beside the session, so rooms never
/// wait on it).
async fn run_in_service(app: AppState, by: Principal, conn: WeakConn, id: Value, command: Command) {
    let Principal::Session { room, .. } = &by else {
        return;
    };
    let request = ServiceRequest::Command {
        room: room.clone(),
        command,
    };
    let result = app.service.call(&by, request).await.map(|r| match r {
        crate::service::ServiceReply::Command { reply } => reply,
        _ => gavel_core::Reply::done(),
    });
    if let Err(e) = &result {
        app.registry.metrics.error(e.code);
    }
    if let Some(conn) = conn.upgrade() {
        let _ = conn.send(Outgoing::Frame(Frame::response(&id, &result)));
    }
}

/// Where a session's room is served.
pub(crate) enum Route {
    Here(crate::registry::RoomHandle),
    /// On another node: this node is the session's edge (`cluster/edge.rs`).
    Edge {
        node: std::sync::Arc<crate::cluster::node::Node>,
        key: u64,
        /// The owner's ICE servers, for a protocol that gives them in its join response
        /// (pinned sessions; an unpinned one gets them from the owner as a frame).
        ice_servers: Vec<crate::turn::IceServer>,
    },
}

impl Route {
    /// The session's room and id now (a move changes them); `None` once it is gone.
    pub(crate) fn current(&self, sid: &str) -> Option<(String, String)> {
        match self {
            Route::Here(h) => Some((h.name.to_string(), sid.to_string())),
            Route::Edge { node, key, .. } => node.edge.route(*key).map(|r| (r.room, r.sid)),
        }
    }

    /// Sends one of the session's requests to its room. `Err(())`: the room is gone, the
    /// session ends; `Ok(false)`: its room is changing hands (`cluster/failover.rs`), the
    /// request was not sent.
    pub(crate) async fn request(
        &self,
        app: &AppState,
        sid: &str,
        id: Value,
        command: Command,
    ) -> Result<bool, ()> {
        match self {
            Route::Here(handle) => {
                let sent = app
                    .service
                    .session_request(handle, sid.to_string(), id, command);
                Box::pin(sent).await.map(|()| true).map_err(drop)
            }
            Route::Edge { node, key, .. } => {
                let sent = crate::cluster::edge_session::client(node, *key, id, command);
                Ok(Box::pin(sent).await)
            }
        }
    }

    /// The session's socket `conn` ended; `suspend`: it broke, and the session may resume.
    /// `kept`: what the front-end keeps for a suspended session's resume, handed back to
    /// whichever node it resumes through.
    pub(crate) async fn ended(
        self,
        sid: String,
        reason: LeaveReason,
        suspend: bool,
        conn: WeakConn,
        kept: Option<String>,
    ) {
        match self {
            Route::Here(handle) => {
                Box::pin(handle.connection_ended(sid, reason, suspend, conn, kept)).await
            }
            Route::Edge { node, key, .. } => {
                let gone = crate::cluster::edge_session::gone(&node, key, reason, suspend, kept);
                Box::pin(gone).await
            }
        }
    }

    /// The ICE servers for the session's media, to give with its first `joined`: this node's
    /// when its room is here. A room on another node has its media there, which only that
    /// node's TURN relay serves (each relays to its own media ports): the owner gives its own —
    /// in its answer to the join for a pinned session, as a frame after `joined` otherwise.
    pub(crate) fn ice_servers(
        &self,
        app: &AppState,
        sid: &str,
        host: Option<&str>,
    ) -> Vec<crate::turn::IceServer> {
        match self {
            Route::Here(_) => app.ice_servers.for_participant(sid, host),
            Route::Edge { ice_servers, .. } => ice_servers.clone(),
        }
    }

    fn is_edge(&self) -> bool {
        matches!(self, Route::Edge { .. })
    }

    /// Follows what the room said about where the session is now. `true`: its room was on
    /// another node and is here now (it came home, or this node took its room over), and so is
    /// its next media session.
    pub(crate) fn follow(&mut self, app: &AppState, out: &Outgoing, sid: &mut String) -> bool {
        let was_edge = self.is_edge();
        match out {
            Outgoing::Switch(h) => *self = Route::Here(h.clone()),
            Outgoing::Rejoined(h, new_sid) => {
                *self = Route::Here(h.clone());
                *sid = new_sid.clone();
            }
            Outgoing::Edged(key) => {
                if let Some(node) = app.registry.cluster.get() {
                    // The destination's owner sends its ICE servers after the snapshot.
                    *self = Route::Edge {
                        node: node.clone(),
                        key: *key,
                        ice_servers: Vec::new(),
                    };
                }
            }
            Outgoing::Frame(_) | Outgoing::Close(_) => {}
        }
        was_edge && !self.is_edge()
    }
}

/// Resumes a session of `identity` in `room`, wherever the room is served (in cluster mode a
/// client may resume through any node); `None` when it cannot (no such session any more).
/// Returns its route, its sid, and what its front-end kept when it broke.
pub(crate) async fn resume_anywhere(
    app: &AppState,
    room: &str,
    resume: &Resume,
    req: &JoinRequest,
    conn: Conn,
) -> Option<(Route, String, Option<String>)> {
    if let Some(handle) = app.registry.get(room) {
        let resumed = handle.resume(
            resume.sid.clone(),
            req.identity.clone(),
            resume.last_ev,
            conn,
        );
        return match resumed.await {
            Ok((sid, kept)) => Some((Route::Here(handle), sid, kept)),
            Err(e) => {
                tracing::debug!(room, sid = %resume.sid, error = %e, "resume refused");
                None
            }
        };
    }
    // Another node serves it (a room nobody serves holds no session to resume).
    let node = app.registry.cluster.get()?;
    use crate::cluster::edge_session::{self, RemoteJoin};
    for fresh in [false, true] {
        let owner = node.owner_of(room, fresh).await.ok()??;
        if owner == node.id {
            return None;
        }
        let key = node.edge.new_key();
        let wanted = crate::cluster::edge_wire::EdgeResume {
            sid: resume.sid.clone(),
            last_ev: resume.last_ev,
        };
        let joined = edge_session::join(
            node,
            key,
            &owner,
            room,
            req.clone(),
            conn.clone(),
            Some(wanted),
        );
        match joined.await {
            RemoteJoin::Joined {
                key,
                sid,
                ice_servers,
                kept,
            } => {
                let route = Route::Edge {
                    node: node.clone(),
                    key,
                    ice_servers,
                };
                return Some((route, sid, kept));
            }
            RemoteJoin::NotHere => continue,
            RemoteJoin::Refused(e) => {
                tracing::debug!(room, sid = %resume.sid, error = %e, "resume refused");
                return None;
            }
        }
    }
    None
}

/// Joins wherever the room is served: here, or — in cluster mode, when another node owns it —
/// there, with this node as the session's edge.
pub(crate) async fn join_anywhere(
    app: &AppState,
    room: &str,
    req: JoinRequest,
    conn: Conn,
) -> Result<(Route, String), Error> {
    use crate::cluster::edge_session::{self, RemoteJoin};
    if let Some(node) = app.registry.cluster.get() {
        if app.registry.get(room).is_none() {
            let key = node.edge.new_key();
            let mut local = false;
            // A cached owner that no longer serves the room says so: look again.
            for attempt in 0..3 {
                let owner = edge_session::serving_node(node, room, attempt > 0).await?;
                if owner == node.id {
                    local = true;
                    break;
                }
                let joined =
                    edge_session::join(node, key, &owner, room, req.clone(), conn.clone(), None);
                match joined.await {
                    RemoteJoin::Joined {
                        key,
                        sid,
                        ice_servers,
                        ..
                    } => {
                        let node = node.clone();
                        let route = Route::Edge {
                            node,
                            key,
                            ice_servers,
                        };
                        return Ok((route, sid));
                    }
                    RemoteJoin::NotHere => continue,
                    RemoteJoin::Refused(e) => {
                        if e.code == ErrorCode::Unavailable {
                            // Maybe no longer the owner: the next join looks again.
                            node.forget_owner_of(room);
                        }
                        return Err(e);
                    }
                }
            }
            if !local {
                return Err(Error::new(
                    ErrorCode::Unavailable,
                    format!("room '{room}' is changing hands; join again"),
                ));
            }
        }
    }
    let (handle, sid) = join(app, room, req, conn).await?;
    Ok((Route::Here(handle), sid))
}

/// Joins, retrying once if the room closed between lookup and join.
pub(crate) async fn join(
    app: &AppState,
    room: &str,
    req: JoinRequest,
    conn: Conn,
) -> Result<(crate::registry::RoomHandle, String), Error> {
    // Child rooms inherit their ancestors' bans.
    app.registry
        .check_inherited_bans(room, &req.identity)
        .await?;
    let mut last = None;
    for _ in 0..2 {
        let (handle, _) = app.registry.get_or_create(room, None, false)?;
        match handle.join(req.clone(), conn.clone()).await {
            Ok(sid) => return Ok((handle, sid)),
            Err(e) if e.code == ErrorCode::NotFound => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::new(ErrorCode::Internal, "join failed")))
}

/// The request id, if the text is a JSON object with one; used to answer refused requests.
fn request_id(text: &str) -> Value {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null)
}

/// Validates a client request: size, JSON, `id` (string or number), and the command itself.
pub fn parse_request(text: &str, max_bytes: usize) -> Result<(Value, Command), (Value, Error)> {
    if text.len() > max_bytes {
        return Err((
            Value::Null,
            Error::invalid(format!(
                "message of {} bytes exceeds the limit of {max_bytes} bytes",
                text.len()
            )),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| (Value::Null, Error::invalid(format!("malformed JSON: {e}"))))?;
    let Value::Object(mut map) = value else {
        return Err((
            Value::Null,
            Error::invalid("a request must be a JSON object"),
        ));
    };
    let id = map.remove("id").unwrap_or(Value::Null);
    if !(id.is_string() || id.is_u64() || id.is_i64() || id.is_null()) {
        return Err((
            Value::Null,
            Error::invalid("id must be a string or an integer"),
        ));
    }
    if !map.contains_key("type") {
        return Err((id, Error::invalid("missing field `type`")));
    }
    match command_from_map(map) {
        Ok(c) => Ok((id, c)),
        Err(e) => Err((id, e)),
    }
}

/// Deserializes a command object (`type` plus fields). Serde ignores extra fields beside the
/// tag of a unit variant, so those are refused here.
fn command_from_map(map: Map<String, Value>) -> Result<Command, Error> {
    let extra = map.keys().find(|k| *k != "type").cloned();
    let command = serde_json::from_value::<Command>(Value::Object(map))
        .map_err(|e| Error::invalid(format!("invalid request: {e}")))?;
    match extra {
        Some(k)
            if matches!(
                command,
                Command::Ping | Command::Leave | Command::EndSession
            ) =>
        {
            Err(Error::invalid(format!(
                "invalid request: unknown field `{k}`: `{}` takes no fields",
                command.action()
            )))
        }
        _ => Ok(command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_clear() {
        let e = |t: &str| parse_request(t, 100).unwrap_err().1;
        assert!(e("{").message.starts_with("malformed JSON"));
        assert_eq!(e("[1]").message, "a request must be a JSON object");
        assert_eq!(e(r#"{"id":1}"#).message, "missing field `type`");
        assert!(e(r#"{"id":1,"type":"dance"}"#)
            .message
            .contains("unknown variant `dance`"));
        assert!(e(r#"{"id":1,"type":"ping","x":1}"#)
            .message
            .contains("unknown field `x`"));
        assert!(e(r#"{"id":1,"type":"mute"}"#)
            .message
            .contains("missing field `identity`"));
        assert!(e(&format!(
            "{{\"type\":\"ping\",\"x\":\"{}\"}}",
            "a".repeat(200)
        ))
        .message
        .contains("exceeds the limit"));
        let (id, c) = parse_request(r#"{"id":"x","type":"ping"}"#, 100).unwrap();
        assert_eq!((id, c), (Value::from("x"), Command::Ping));
    }
}
