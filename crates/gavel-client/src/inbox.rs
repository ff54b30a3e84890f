//! The queue between the task reading a connection and the application reading its messages:
//! bounded, with room always kept for the message that says the session ended.

use crate::rtc::Message;
use tokio::sync::mpsc;

/// The reading task's end of the queue.
pub struct Inbox {
    tx: mpsc::Sender<Message>,
}

/// A queue that holds `capacity` unread messages, plus the final [`Message::Closed`].
pub fn inbox(capacity: usize) -> (Inbox, mpsc::Receiver<Message>) {
    let (tx, rx) = mpsc::channel(capacity + 1);
    (Inbox { tx }, rx)
}

impl Inbox {
    /// Queues `message`; `false` when `capacity` messages are already unread (the application
    /// fell behind). With no reader left (the client was dropped) the message is discarded:
    /// nothing could read it, and that is not falling behind.
    pub fn push(&self, message: Message) -> bool {
        if self.tx.is_closed() {
            return true;
        }
        // The last slot is kept for `close`.
        if self.tx.capacity() <= 1 {
            return false;
        }
        let _ = self.tx.try_send(message);
        true
    }

    /// Whether the application dropped its end (nothing will read what comes).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues the last message, in the slot kept for it.
    pub fn close(self, code: u16, reason: String) {
        let _ = self.tx.try_send(Message::Closed { code, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn response(seq: u64) -> Message {
        Message::Response {
            seq,
            body: Value::Null,
        }
    }

    #[test]
    fn holds_its_capacity_then_refuses_and_still_delivers_the_close() {
        let (inbox, mut rx) = inbox(3);
        for seq in 1..=3 {
            assert!(inbox.push(response(seq)), "message {seq} fits");
        }
        assert!(
            !inbox.push(response(4)),
            "a fourth unread message is refused"
        );
        // Reading one makes room for one.
        assert_eq!(rx.try_recv().unwrap(), response(1));
        assert!(inbox.push(response(4)));
        assert!(!inbox.push(response(5)));
        inbox.close(1008, "lagged".into());
        let rest: Vec<Message> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            rest,
            [
                response(2),
                response(3),
                response(4),
                Message::Closed {
                    code: 1008,
                    reason: "lagged".into()
                }
            ]
        );
    }

    #[test]
    fn without_a_reader_messages_are_discarded_not_refused() {
        let (inbox, rx) = inbox(1);
        drop(rx);
        for seq in 1..=10 {
            assert!(inbox.push(response(seq)));
        }
    }
}
