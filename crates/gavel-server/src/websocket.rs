//! The WebSocket transport under `/v1/rtc`: RFC 6455's handshake on hyper's upgrade, and writes
//! that split large messages into fragments.
//!
//! Why not the web framework's own WebSocket extractor: the WebSocket library keeps each
//! connection's write buffer at the size of the largest frame it ever wrote. A participant
//! joining a large room receives one snapshot of hundreds of KiB; kept for the whole session,
//! that buffer was most of a participant's idle memory (docs/benchmarks.md). Writing messages as
//! fragments of at most [`FRAGMENT`] bytes bounds the buffer; clients reassemble fragments
//! transparently (RFC 6455 §5.4), so the protocol does not change.
//!
//! A client that breaks the protocol (invalid UTF-8 in a text message, a message over the size
//! limit, an unknown opcode, an unmasked frame) is told why before the connection goes: a close
//! frame with the RFC's code ([`violation_close`]), then a lingering close ([`fail`]) so the
//! frame is not lost to a TCP reset.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::SinkExt;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::WebSocketStream;

pub type Socket = WebSocketStream<TokioIo<Upgraded>>;
pub type Sink = SplitSink<Socket, Message>;
pub type Stream = SplitStream<Socket>;

/// How long a failed connection is drained after its close frame, waiting for the client to
/// close its side. Bounded so a client that keeps sending cannot hold the task.
const LINGER: Duration = Duration::from_secs(1);
/// A close frame's reason is at most 123 bytes (RFC 6455 §5.5: 125 minus the code).
const MAX_CLOSE_REASON: usize = 123;

/// Largest frame written; longer messages go out as several. The library's write buffer keeps
/// the capacity of the largest frame for the whole connection: at 8 KiB that was 8 KiB of every
/// idle participant (dhat, 1,000 participants); most events fit in 1 KiB, and a snapshot costs a
/// few more frames.
pub const FRAGMENT: usize = 1024;

/// A checked upgrade request, ready to be answered with `101 Switching Protocols`.
pub struct Upgrade {
    on_upgrade: OnUpgrade,
    accept: String,
}

impl Upgrade {
    /// Like [`Upgrade::from_request`], with the error a request that is not an upgrade gets.
    pub fn required(req: &mut Request) -> Result<Upgrade, gavel_core::Error> {
        Self::from_request(req).ok_or_else(|| {
            gavel_core::Error::invalid(
                "this endpoint takes a WebSocket upgrade (GET with Upgrade: websocket)",
            )
        })
    }

    /// Small per-connection buffers: the defaults (128 KiB each way) dominate memory in large
    /// rooms; reads start at `read_buffer` and grow for a bigger frame, and frames are written
    /// one by one (large ones as fragments, [`send_text`]).
    pub fn config(max_message: usize, read_buffer: usize) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message))
            .read_buffer_size(read_buffer)
            .write_buffer_size(0)
    }

    /// The handshake fields of a WebSocket upgrade request; `None` when `req` is not one.
    pub fn from_request(req: &mut Request) -> Option<Upgrade> {
        let headers = req.headers();
        let has = |name: header::HeaderName, token: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        let version_ok = headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
        if req.method() != Method::GET
            || !has(header::CONNECTION, "upgrade")
            || !has(header::UPGRADE, "websocket")
            || !version_ok
        {
            return None;
        }
        let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
        let accept = derive_accept_key(key.as_bytes());
        let on_upgrade = req.extensions_mut().remove::<OnUpgrade>()?;
        Some(Upgrade { on_upgrade, accept })
    }

    /// Answers `101` and runs `session` on the socket once the connection has switched.
    pub fn respond<F, Fut>(self, config: WebSocketConfig, session: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Upgrade { on_upgrade, accept } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    let socket =
                        WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                    session(socket).await;
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers: &mut HeaderMap = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        response
    }
}

/// Sends one text message, as fragments of at most [`FRAGMENT`] bytes when it is longer.
pub async fn send_text(sink: &mut Sink, text: String) -> Result<(), Error> {
    if text.len() <= FRAGMENT {
        return sink.send(Message::text(text)).await;
    }
    let bytes = bytes::Bytes::from(text);
    let mut offset = 0;
    while offset < bytes.len() {
        let end = (offset + FRAGMENT).min(bytes.len());
        // Text fragments may split a UTF-8 sequence; the receiver validates the whole message.
        let opcode = if offset == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(bytes.slice(offset..end), opcode, end == bytes.len());
        sink.feed(Message::Frame(frame)).await?;
        offset = end;
    }
    sink.flush().await
}

/// The close frame that tells a client which rule its last frame broke (RFC 6455 §7.4.1), for a
/// read that failed with `error`; `None` when the error is the connection itself going away, so
/// there is no one left to tell.
pub fn violation_close(error: &Error) -> Option<CloseFrame> {
    let (code, reason) = match error {
        Error::Utf8(_) => (
            CloseCode::Invalid,
            "invalid UTF-8 in a text message".to_string(),
        ),
        Error::Capacity(e) => (CloseCode::Size, e.to_string()),
        Error::Protocol(
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::SendAfterClosing
            | ProtocolError::ReceivedAfterClosing,
        ) => return None,
        Error::Protocol(e) => (CloseCode::Protocol, e.to_string()),
        _ => return None,
    };
    Some(CloseFrame {
        code,
        reason: truncate(reason, MAX_CLOSE_REASON).into(),
    })
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Fails the connection after a protocol violation: sends `frame` (within `timeout`), closes
/// our side, then reads and discards until the client closes its side or [`LINGER`] passes.
/// Closing at once with unread bytes from the client would answer them with a TCP reset, which
/// can destroy the close frame before the client reads it.
pub async fn fail(mut sink: Sink, stream: Stream, frame: CloseFrame, timeout: Duration) {
    let sent = tokio::time::timeout(timeout, sink.send(Message::Close(Some(frame)))).await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let Ok(socket) = stream.reunite(sink) else {
        return;
    };
    let mut io = socket.into_inner();
    let drain = async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut discard = [0u8; 256];
        while let Ok(n) = io.read(&mut discard).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_violation_has_its_close_code() {
        let code = |e: Error| violation_close(&e).map(|f| f.code);
        assert_eq!(code(Error::Utf8("bad".into())), Some(CloseCode::Invalid));
        let too_long = tokio_tungstenite::tungstenite::error::CapacityError::MessageTooLong {
            size: 2,
            max_size: 1,
        };
        assert_eq!(code(Error::Capacity(too_long)), Some(CloseCode::Size));
        for p in [
            ProtocolError::UnmaskedFrameFromClient,
            ProtocolError::UnknownDataFrameType(3),
            ProtocolError::UnknownControlFrameType(11),
            ProtocolError::NonZeroReservedBits,
            ProtocolError::UnexpectedContinueFrame,
        ] {
            assert_eq!(code(Error::Protocol(p)), Some(CloseCode::Protocol));
        }
        assert_eq!(
            code(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)),
            None
        );
        assert_eq!(code(Error::ConnectionClosed), None);
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        let long = truncate("é".repeat(100), MAX_CLOSE_REASON);
        assert!(long.len() <= MAX_CLOSE_REASON && long.len() >= MAX_CLOSE_REASON - 1);
        assert_eq!(truncate("short".into(), MAX_CLOSE_REASON), "short");
    }
}
