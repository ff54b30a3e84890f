//! WebSocket protocol violations over a raw TCP socket: each one is answered with a close frame
//! carrying the RFC 6455 code (1007 invalid UTF-8, 1009 too big, 1002 protocol error) before
//! the connection ends, and the participant is reported as left.
//!
//! The frames are written byte by byte here: a WebSocket library would refuse to send them.

mod common;
use common::*;
use gavel_client::core::{Event, LeaveReason};
use gavel_client::RtcClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// The server's transport limit for one message or frame (crates/gavel-server/src/ws.rs).
const TRANSPORT_LIMIT: usize = 1024 * 1024;

/// One frame as a client would write it; `first` carries FIN, RSV and the opcode.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend(MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        out.extend(payload);
    }
    out
}

/// Only the header of a masked frame announcing `len` bytes; no payload follows.
fn header_only(first: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first, 0x80 | 127];
    out.extend(len.to_be_bytes());
    out.extend(MASK);
    out
}

/// Opens `/v1/rtc` with `token` by hand and returns the socket after `101 Switching Protocols`.
async fn handshake(ts: &TestServer, token: &str) -> TcpStream {
    let addr = ts.http.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/rtc?access_token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Read the response head byte by byte so no WebSocket frame is consumed with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(tcp.read(&mut b).await.unwrap(), 1, "EOF in the handshake");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A frame from the server: its opcode and payload (fragments are not reassembled).
struct ServerFrame {
    opcode: u8,
    payload: Vec<u8>,
}

/// Reads one unmasked server frame; `None` at EOF.
async fn read_frame(tcp: &mut OwnedReadHalf) -> Option<ServerFrame> {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await.ok()?;
    assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.unwrap();
    Some(ServerFrame {
        opcode: head[0] & 0x0f,
        payload,
    })
}

/// Skips frames until the close frame; returns its code and reason, then checks the server
/// ends the connection.
async fn close_code(tcp: &mut OwnedReadHalf, what: &str) -> (u16, String) {
    let close = tokio::time::timeout(WAIT, async {
        loop {
            match read_frame(tcp).await {
                Some(f) if f.opcode == 0x8 => return f.payload,
                Some(_) => continue,
                None => panic!("{what}: the connection ended without a close frame"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: no close frame"));
    assert!(close.len() >= 2, "{what}: close frame without a code");
    let code = u16::from_be_bytes([close[0], close[1]]);
    let reason = String::from_utf8(close[2..].to_vec()).expect("reason is UTF-8");
    // A clean end (FIN, not a reset that may destroy the close frame on a real network).
    let mut rest = Vec::new();
    match tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("{what}: the connection ended with {e} after the close frame"),
        Err(_) => panic!("{what}: the server kept the connection open"),
    }
    (code, reason)
}

/// `observer` hears that `identity` left because its connection closed.
async fn expect_left(observer: &RtcClient, identity: &str) {
    loop {
        match expect(observer, "participant_left").await {
            Event::ParticipantLeft {
                identity: who,
                reason,
                ..
            } if who == identity => {
                assert_eq!(reason, LeaveReason::Disconnected, "{identity}");
                return;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn protocol_violations_are_closed_with_their_code() {
    let ts = TestServer::start().await;
    let observer = ts.join("strict", "observer", "host").await;

    let two_fragments = {
        // Two frames under the frame limit whose message is over it.
        let half = vec![b'a'; TRANSPORT_LIMIT / 2 + 1];
        let mut bytes = frame(TEXT, &half, true);
        bytes[0] = TEXT; // FIN clear: more to come
        bytes.extend(frame(0x80 | CONTINUATION, &half, true));
        bytes
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "invalid UTF-8 in a text frame",
            frame(0x80 | TEXT, b"{\"type\":\"ping\xff\xfe\"}", true),
            1007,
        ),
        (
            "invalid UTF-8 across fragments",
            [
                frame(TEXT, b"{\"type\":\"", true),
                frame(0x80 | CONTINUATION, b"\xc3\x28\"}", true),
            ]
            .concat(),
            1007,
        ),
        (
            "a frame over the size limit",
            header_only(0x80 | TEXT, 2 * TRANSPORT_LIMIT as u64),
            1009,
        ),
        (
            "a frame over the size limit, its payload still coming",
            frame(0x80 | TEXT, &vec![b' '; 2 * TRANSPORT_LIMIT], true),
            1009,
        ),
        ("a message over the size limit", two_fragments, 1009),
        (
            "a reserved data opcode",
            frame(0x80 | 0x3, b"{}", true),
            1002,
        ),
        (
            "a reserved control opcode",
            frame(0x80 | 0xb, b"", true),
            1002,
        ),
        (
            "reserved bits set",
            frame(0x80 | 0x40 | TEXT, b"{\"type\":\"ping\"}", true),
            1002,
        ),
        (
            "an unmasked client frame",
            frame(0x80 | TEXT, b"{\"type\":\"ping\"}", false),
            1002,
        ),
        (
            "a continuation with nothing to continue",
            frame(0x80 | CONTINUATION, b"{}", true),
            1002,
        ),
    ];

    for (i, (what, bytes, expected)) in cases.into_iter().enumerate() {
        let identity = format!("v{i}");
        let tcp = handshake(&ts, &ts.token("strict", &identity, "participant")).await;
        // Joined: the observer sees the participant before it misbehaves.
        loop {
            if let Event::ParticipantJoined { participant } =
                expect(&observer, "participant_joined").await
            {
                if participant.identity == identity {
                    break;
                }
            }
        }
        // Written on the side: the server may stop reading a frame it refused midway.
        let (mut rd, mut wr) = tcp.into_split();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&bytes).await;
            wr
        });
        let (code, reason) = close_code(&mut rd, what).await;
        drop(writer.await);
        assert_eq!(code, expected, "{what}: close code (reason {reason:?})");
        assert!(
            !reason.is_empty() && reason.len() <= 123,
            "{what}: {reason:?}"
        );
        expect_left(&observer, &identity).await;
    }

    // The room is intact: only the observer is left in it.
    assert_eq!(api_identities(&ts.admin(), "strict").await, ["observer"]);
    ts.stop().await;
}
