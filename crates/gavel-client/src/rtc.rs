//! A participant's WebSocket session.
//!
//! A task reads the socket: responses go to the request waiting for them, events update the
//! shared [`RoomState`], and every message is queued for the application to read with
//! [`RtcClient::next`]. That queue is bounded ([`MESSAGE_BUFFER`]): an application that stops
//! reading ends its session rather than growing the client's memory without limit.

use crate::inbox::{inbox, Inbox};
use crate::seq::{SeqBreak, SeqOrder};
use crate::state::RoomState;
use futures_util::{SinkExt, StreamExt};
use gavel_core::{Command, Error, ErrorCode, Event};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, Error>>>>>;
type SharedSink = Arc<tokio::sync::Mutex<Sink>>;
type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsMessage,
>;

/// What the server sent, in order.
// Events dominate the stream; boxing them would only add an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Event {
        seq: u64,
        event: Event,
    },
    /// A response this client did not ask for by id (e.g. to a malformed request).
    Response {
        seq: u64,
        body: Value,
    },
    /// The server closed the connection.
    Closed {
        code: u16,
        reason: String,
    },
}

/// How long [`RtcClient::request`] waits for its response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client tries to resume its session after its connection broke (the server's
/// default grace period): a network blip is not a leave (docs/protocol.md, "Resuming a
/// session").
pub const RESUME_FOR: Duration = Duration::from_secs(10);
/// The wait between two attempts to resume.
const RESUME_RETRY: Duration = Duration::from_millis(200);

/// How many messages an [`RtcClient`] holds for the application to read ([`RtcClient::next`] and
/// the helpers built on it): as many as the server queues for one connection. When the
/// application has left this many unread, the client ends the session instead of buffering
/// more: it closes the connection with code 1008 and reason [`LAGGED`] (the room sees the
/// participant leave), requests still waiting fail with that reason, and [`RtcClient::next`]
/// returns the buffered messages, then [`Message::Closed`] with that code and reason.
/// The room state ([`RtcClient::state`]) stays as it was at that point.
pub const MESSAGE_BUFFER: usize = 4096;

/// The close reason of a session the client ended because its application stopped reading
/// messages (see [`MESSAGE_BUFFER`]).
pub const LAGGED: &str = "lagged";

/// The close code sent with [`LAGGED`]: policy violation, as the server's `slow_consumer`.
const LAGGED_CODE: u16 = 1008;

pub struct RtcClient {
    /// Shared with the reading task, which closes the connection when the application lags.
    sink: SharedSink,
    pending: Pending,
    messages: tokio::sync::Mutex<mpsc::Receiver<Message>>,
    state: Arc<Mutex<RoomState>>,
    /// The `seq` order check: the last number and the first break, not every number.
    order: Arc<Mutex<SeqOrder>>,
    next_id: AtomicU64,
    sid: String,
    identity: String,
    /// How many times the session resumed after its connection broke.
    resumes: Arc<AtomicU64>,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> Error {
    Error::new(code, msg)
}

impl RtcClient {
    /// Connects to `ws_base` (e.g. `ws://127.0.0.1:7880`) and waits for the `joined` snapshot,
    /// or for `waiting` when the room has a waiting room this session must wait in (see
    /// [`RtcClient::is_waiting`]; `joined` follows if a host admits it, `room_left` if not).
    /// A refused join returns the server's error (HTTP 401 for bad tokens, in-band otherwise).
    pub async fn connect(ws_base: &str, token: &str) -> Result<RtcClient, Error> {
        let url = format!(
            "{}/v1/rtc?access_token={token}",
            ws_base.trim_end_matches('/')
        );
        let (ws, _) = match tokio_tungstenite::connect_async(&url).await {
            Ok(x) => x,
            Err(tungstenite::Error::Http(resp)) => {
                let body = resp.body().as_deref().unwrap_or_default();
                let v: Value = serde_json::from_slice(body).unwrap_or_default();
                return Err(
                    serde_json::from_value(v["error"].clone()).unwrap_or_else(|_| {
                        err(ErrorCode::Internal, format!("HTTP {}", resp.status()))
                    }),
                );
            }
            Err(e) => return Err(err(ErrorCode::Internal, format!("connect failed: {e}"))),
        };
        let base = ws_base.trim_end_matches('/').to_string();
        let (sink, mut stream) = ws.split();
        // The first message is `joined`, or an `error` for a refused join.
        let first = loop {
            match tokio::time::timeout(REQUEST_TIMEOUT, stream.next()).await {
                Ok(Some(Ok(WsMessage::Text(t)))) => break t.to_string(),
                Ok(Some(Ok(_))) => continue,
                _ => return Err(err(ErrorCode::Internal, "connection closed before joining")),
            }
        };
        let v: Value = serde_json::from_str(&first)
            .map_err(|e| err(ErrorCode::Internal, format!("bad first message: {e}")))?;
        if v["type"] == "error" {
            return Err(serde_json::from_value(v["error"].clone())
                .unwrap_or_else(|_| err(ErrorCode::Internal, first.clone())));
        }
        let seq = v["seq"].as_u64().unwrap_or(0);
        let first_ev = v["ev"].as_u64().unwrap_or(0);
        let joined = parse_event(v)
            .ok_or_else(|| err(ErrorCode::Internal, "first message was not joined"))?;
        let mut state = RoomState::default();
        state.apply(&joined);
        let (me_sid, me_identity) = match (&state.me, &state.waiting) {
            (Some(me), _) => (me.sid.clone(), me.identity.clone()),
            (None, Some(w)) => (w.sid.clone(), w.identity.clone()),
            _ => {
                return Err(err(
                    ErrorCode::Internal,
                    "first message was neither joined nor waiting",
                ))
            }
        };
        let state = Arc::new(Mutex::new(state));
        let pending: Pending = Arc::default();
        let mut order = SeqOrder::default();
        order.observe(seq);
        let order = Arc::new(Mutex::new(order));
        let sink: SharedSink = Arc::new(tokio::sync::Mutex::new(sink));
        let (inbox, rx) = inbox(MESSAGE_BUFFER);
        inbox.push(Message::Event { seq, event: joined });
        let resumes = Arc::new(AtomicU64::new(0));
        let resume = Resume {
            base,
            token: token.to_string(),
            sid: me_sid.clone(),
            last_ev: first_ev,
            count: resumes.clone(),
        };
        tokio::spawn(read_loop(
            stream,
            inbox,
            sink.clone(),
            pending.clone(),
            state.clone(),
            order.clone(),
            resume,
        ));
        Ok(RtcClient {
            sink,
            pending,
            messages: tokio::sync::Mutex::new(rx),
            state,
            order,
            next_id: AtomicU64::new(1),
            sid: me_sid,
            identity: me_identity,
            resumes,
        })
    }

    /// How many times the session has resumed after its connection broke (a media session
    /// then restarts ICE: [`crate::media::MediaPeer::restart_ice`]).
    pub fn resumes(&self) -> u64 {
        self.resumes.load(Ordering::Relaxed)
    }

    /// Whether this session is (still) in the room's waiting room.
    pub fn is_waiting(&self) -> bool {
        let state = self.state.lock().unwrap();
        state.me.is_none() && state.waiting.is_some() && state.left.is_none()
    }

    pub fn sid(&self) -> &str {
        &self.sid
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The room as this client sees it now.
    pub fn state(&self) -> RoomState {
        self.state.lock().unwrap().clone()
    }

    /// The `seq` of the last message received.
    pub fn last_seq(&self) -> u64 {
        self.order.lock().unwrap().last()
    }

    /// Where this connection's `seq` numbering first broke (a gap, repeat or reordering), if it
    /// did; the server promises it never does.
    pub fn seq_break(&self) -> Option<SeqBreak> {
        self.order.lock().unwrap().first_break()
    }

    /// Sends raw text (for testing how the server treats bad input).
    pub async fn send_raw(&self, text: &str) -> Result<(), Error> {
        self.sink
            .lock()
            .await
            .send(WsMessage::Text(text.into()))
            .await
            .map_err(|e| err(ErrorCode::Internal, format!("send failed: {e}")))
    }

    /// Sends a request object (`{"type": …, …}`); an `id` is added. Returns the response body.
    pub async fn request(&self, mut body: Value) -> Result<Value, Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        body["id"] = Value::from(id);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.send_raw(&body.to_string()).await?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(err(
                ErrorCode::Internal,
                "connection closed before the response",
            )),
            Err(_) => Err(err(ErrorCode::Internal, "no response in time")),
        }
    }

    /// Sends a typed command.
    pub async fn command(&self, command: &Command) -> Result<Value, Error> {
        self.request(serde_json::to_value(command).expect("commands serialize"))
            .await
    }

    /// Publishes a track of `source` and returns its sid.
    pub async fn publish(&self, source: &str) -> Result<String, Error> {
        let r = self
            .request(serde_json::json!({"type": "publish_track", "source": source}))
            .await?;
        Ok(r["track"]["sid"].as_str().unwrap_or_default().to_string())
    }

    /// The next message, or `None` after `timeout`.
    pub async fn next(&self, timeout: Duration) -> Option<Message> {
        let mut rx = self.messages.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Skips messages until an event matching `pred` arrives (or `timeout` passes).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Result<Event, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Message::Event { event, .. }) if pred(&event) => return Ok(event),
                Some(_) => continue,
                None => {
                    return Err(format!(
                        "{}: no matching event within {timeout:?}",
                        self.identity
                    ))
                }
            }
        }
    }

    /// Waits for an event of the given `type` name.
    pub async fn wait_type(&self, kind: &str, timeout: Duration) -> Result<Event, String> {
        self.wait_for(timeout, |e| e.kind() == kind).await
    }

    /// Collects every message that arrives within `window`.
    pub async fn drain(&self, window: Duration) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(m) = self.next(window).await {
            out.push(m);
        }
        out
    }

    /// Waits until the server closes the connection; returns its close code and reason.
    pub async fn wait_closed(&self, timeout: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Message::Closed { code, reason } => return Some((code, reason)),
                _ => continue,
            }
        }
    }

    /// Closes the connection from this side.
    pub async fn close(&self) {
        let _ = self.sink.lock().await.send(WsMessage::Close(None)).await;
    }
}

fn parse_event(mut v: Value) -> Option<Event> {
    if let Some(m) = v.as_object_mut() {
        m.remove("seq");
    }
    serde_json::from_value(v).ok()
}

type Stream = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

/// What resuming the session takes: where, with which token, and the last room message
/// number (`ev`) received.
struct Resume {
    base: String,
    token: String,
    sid: String,
    last_ev: u64,
    /// Counts the resumes, for [`RtcClient::resumes`].
    count: Arc<AtomicU64>,
}

impl Resume {
    /// Resumes on a new connection (for up to [`RESUME_FOR`]); `None` when the server refuses
    /// (the session ended: kicked, or its grace period passed) or cannot be reached.
    async fn reconnect(&self, last_seq: u64, order: &Mutex<SeqOrder>) -> Option<(Sink, Stream)> {
        let url = format!(
            "{}/v1/rtc?access_token={}&resume={}&last_seq={last_seq}&last_ev={}",
            self.base, self.token, self.sid, self.last_ev
        );
        let deadline = tokio::time::Instant::now() + RESUME_FOR;
        while tokio::time::Instant::now() < deadline {
            let attempt =
                tokio::time::timeout(REQUEST_TIMEOUT, tokio_tungstenite::connect_async(&url));
            let ws = match attempt.await {
                Ok(Ok((ws, _))) => ws,
                // Refused before the upgrade (an invalid token): it will not get better.
                Ok(Err(tungstenite::Error::Http(_))) => return None,
                _ => {
                    tokio::time::sleep(RESUME_RETRY).await;
                    continue;
                }
            };
            let (sink, mut stream) = ws.split();
            // `resumed` first (it carries the next `seq`), or an `error`: not resumable.
            let first = tokio::time::timeout(REQUEST_TIMEOUT, stream.next()).await;
            let Ok(Some(Ok(WsMessage::Text(t)))) = first else {
                tokio::time::sleep(RESUME_RETRY).await;
                continue;
            };
            let v: Value = serde_json::from_str(&t).unwrap_or_default();
            if v["type"] != "resumed" {
                return None;
            }
            order
                .lock()
                .unwrap()
                .observe(v["seq"].as_u64().unwrap_or(0));
            return Some((sink, stream));
        }
        None
    }
}

async fn read_loop(
    mut stream: Stream,
    inbox: Inbox,
    sink: SharedSink,
    pending: Pending,
    state: Arc<Mutex<RoomState>>,
    order: Arc<Mutex<SeqOrder>>,
    mut resume: Resume,
) {
    let mut closed = (1006u16, String::from("connection lost"));
    loop {
        let mut broke = true;
        while let Some(msg) = stream.next().await {
            let text = match msg {
                Ok(WsMessage::Text(t)) => t,
                Ok(WsMessage::Close(frame)) => {
                    if let Some(f) = frame {
                        closed = (f.code.into(), f.reason.to_string());
                    } else {
                        closed = (1005, String::new());
                    }
                    broke = false;
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let seq = v["seq"].as_u64().unwrap_or(0);
            order.lock().unwrap().observe(seq);
            if let Some(ev) = v["ev"].as_u64() {
                resume.last_ev = ev;
            }
            let message = if v["type"] == "response" {
                let waiter = v["id"]
                    .as_u64()
                    .and_then(|id| pending.lock().unwrap().remove(&id));
                match waiter {
                    Some(w) => {
                        let r = if v["ok"] == true {
                            Ok(v)
                        } else {
                            Err(serde_json::from_value(v["error"].clone())
                                .unwrap_or_else(|_| err(ErrorCode::Internal, "bad error body")))
                        };
                        let _ = w.send(r);
                        continue;
                    }
                    None => Message::Response { seq, body: v },
                }
            } else if let Some(event) = parse_event(v.clone()) {
                state.lock().unwrap().apply(&event);
                Message::Event { seq, event }
            } else {
                Message::Response { seq, body: v }
            };
            if !inbox.push(message) {
                closed = (LAGGED_CODE, LAGGED.to_string());
                let frame = CloseFrame {
                    code: LAGGED_CODE.into(),
                    reason: LAGGED.into(),
                };
                let close = async { sink.lock().await.send(WsMessage::Close(Some(frame))).await };
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, close).await;
                broke = false;
                break;
            }
        }
        // A connection that broke (no close frame) resumes: the same session, the messages
        // missed meanwhile, the same numbering.
        if !broke || inbox.is_closed() {
            break;
        }
        let last_seq = order.lock().unwrap().last();
        match resume.reconnect(last_seq, &order).await {
            Some((new_sink, new_stream)) => {
                *sink.lock().await = new_sink;
                stream = new_stream;
                resume.count.fetch_add(1, Ordering::Relaxed);
            }
            None => break,
        }
    }
    // Requests still waiting learn why no response will come.
    let why = format!(
        "connection closed before the response ({} {})",
        closed.0, closed.1
    );
    for (_, waiter) in pending.lock().unwrap().drain() {
        let _ = waiter.send(Err(err(ErrorCode::Internal, why.clone())));
    }
    inbox.close(closed.0, closed.1);
}
