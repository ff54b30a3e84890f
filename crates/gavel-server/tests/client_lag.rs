//! `gavel-client`'s bound on unread messages, over a real connection: an application that stops
//! reading gets exactly `MESSAGE_BUFFER` messages, then the session ends (`lagged`) and the
//! room sees the participant leave — the client's memory does not grow with the room's events.

mod common;
use common::*;
use futures_util::future::join_all;
use gavel_client::core::{Event, LeaveReason};
use gavel_client::{Message, LAGGED, MESSAGE_BUFFER};
use gavel_server::config::Limits;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_client_that_stops_reading_ends_its_session_at_the_buffer_limit() {
    let ts = TestServer::with_limits(Limits {
        // The server must not drop the reader first: this is about the client's own bound.
        outbox_capacity: 4 * MESSAGE_BUFFER,
        requests_per_second: 1_000_000,
        request_burst: 1_000_000,
        ..Limits::default()
    })
    .await;
    let reader = ts.join("lag", "reader", "participant").await;
    let sender = ts.join("lag", "sender", "participant").await;

    let data = json!({"type": "send_data", "payload": "aGk="});
    let mut sent = 0;
    while sent < MESSAGE_BUFFER + 8 {
        let batch = join_all((0..256).map(|_| sender.request(data.clone()))).await;
        for r in batch {
            r.expect("send_data");
        }
        sent += 256;
    }

    // The room sees the reader leave: its client closed the connection.
    loop {
        if let Event::ParticipantLeft {
            identity, reason, ..
        } = expect(&sender, "participant_left").await
        {
            assert_eq!(identity, "reader");
            assert_eq!(reason, LeaveReason::Disconnected);
            break;
        }
    }

    // The reader's application finds exactly the buffer's worth, then why it ended.
    let mut buffered = Vec::new();
    let closed = loop {
        match reader.next(Duration::ZERO).await {
            Some(Message::Closed { code, reason }) => break (code, reason),
            Some(m) => buffered.push(m),
            None => panic!("no Closed after {} messages", buffered.len()),
        }
    };
    assert_eq!(closed, (1008, LAGGED.to_string()));
    assert_eq!(buffered.len(), MESSAGE_BUFFER);
    // In order and none missing: `joined`, the sender's arrival, then the data messages.
    let seqs: Vec<u64> = buffered
        .iter()
        .map(|m| match m {
            Message::Event { seq, .. } | Message::Response { seq, .. } => *seq,
            Message::Closed { .. } => unreachable!(),
        })
        .collect();
    assert_eq!(seqs, (1..=MESSAGE_BUFFER as u64).collect::<Vec<_>>());
    assert!(matches!(
        buffered.last(),
        Some(Message::Event {
            event: Event::DataReceived { .. },
            ..
        })
    ));
    // Numbering was checked without keeping it: no break, and the refused message was the last.
    assert_eq!(reader.seq_break(), None);
    assert_eq!(reader.last_seq(), MESSAGE_BUFFER as u64 + 1);
    // The session is over for the application too.
    assert!(reader.request(json!({"type": "ping"})).await.is_err());
    assert_eq!(api_identities(&ts.admin(), "lag").await, ["sender"]);
    ts.stop().await;
}
