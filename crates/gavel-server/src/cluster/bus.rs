//! The bus between nodes: what a node publishes on a channel reaches every node subscribed to
//! it, at most once (a message published while a subscriber is disconnected is lost; receivers
//! number what they expect and resynchronise on a gap). Behind a small interface so another bus
//! than Redis (`redis_bus.rs`) can follow.
//!
//! Every message is an [`Envelope`]: a wire version first, so nodes of two adjacent versions can
//! run side by side during a rolling upgrade and a message of an unknown version is refused
//! with a clear error instead of being misread.

use std::future::Future;
use std::pin::Pin;

/// The wire version this node writes. A node reads its own and the one before it.
pub const WIRE_VERSION: u8 = 1;
/// The oldest wire version this node still reads.
pub const OLDEST_READABLE: u8 = 1;

/// Messages waiting for this node's dispatcher; beyond that, messages are dropped (and counted):
/// the bus is at-most-once anyway, and a slow node must not grow without bound.
pub const INBOX: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError(pub String);

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type BusFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BusError>> + Send + 'a>>;

/// A message as it arrived: the channel it came on and its bytes (an encoded [`Envelope`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub channel: String,
    pub payload: Vec<u8>,
}

/// A bus. Messages for this node's subscriptions arrive on the receiver its constructor
/// returned.
pub trait Bus: Send + Sync + 'static {
    /// Publishes `payload` on `channel`; fails at once (never hangs) when the bus is down.
    fn publish<'a>(&'a self, channel: &'a str, payload: Vec<u8>) -> BusFuture<'a, ()>;
    /// Subscribes to `channel`, for good: a subscription survives the bus reconnecting.
    fn subscribe<'a>(&'a self, channel: &'a str) -> BusFuture<'a, ()>;
    fn unsubscribe<'a>(&'a self, channel: &'a str) -> BusFuture<'a, ()>;
}

/// What every bus message carries: the wire version, the sending node, a kind that says how to
/// read the body, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: u8,
    pub from: String,
    pub kind: String,
    pub body: Vec<u8>,
}

/// Why a received message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Written by a node of another wire version than this one reads.
    Version(u8),
    /// Not an envelope at all.
    Malformed,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Version(v) => write!(
                f,
                "a bus message of wire version {v}; this node reads {OLDEST_READABLE} to {WIRE_VERSION}: upgrade nodes one version at a time"
            ),
            Refused::Malformed => f.write_str("a malformed bus message"),
        }
    }
}

impl Envelope {
    pub fn new(from: &str, kind: &str, body: Vec<u8>) -> Envelope {
        Envelope {
            version: WIRE_VERSION,
            from: from.to_string(),
            kind: kind.to_string(),
            body,
        }
    }

    /// `[version][from length][from][kind length][kind][body]`, lengths one byte each (node
    /// ids and kinds are short); the body is copied once, never parsed here.
    pub fn encode(&self) -> Vec<u8> {
        let from = &self.from.as_bytes()[..self.from.len().min(255)];
        let kind = &self.kind.as_bytes()[..self.kind.len().min(255)];
        let mut out = Vec::with_capacity(3 + from.len() + kind.len() + self.body.len());
        out.push(self.version);
        out.push(from.len() as u8);
        out.extend_from_slice(from);
        out.push(kind.len() as u8);
        out.extend_from_slice(kind);
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Envelope, Refused> {
        let (&version, rest) = bytes.split_first().ok_or(Refused::Malformed)?;
        if !(OLDEST_READABLE..=WIRE_VERSION).contains(&version) {
            return Err(Refused::Version(version));
        }
        let (from, rest) = short_string(rest)?;
        let (kind, body) = short_string(rest)?;
        Ok(Envelope {
            version,
            from,
            kind,
            body: body.to_vec(),
        })
    }
}

fn short_string(bytes: &[u8]) -> Result<(String, &[u8]), Refused> {
    let (&len, rest) = bytes.split_first().ok_or(Refused::Malformed)?;
    let len = len as usize;
    if rest.len() < len {
        return Err(Refused::Malformed);
    }
    let text = std::str::from_utf8(&rest[..len]).map_err(|_| Refused::Malformed)?;
    Ok((text.to_string(), &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_and_other_versions_are_refused() {
        let e = Envelope::new("node-a", "event", b"{\"type\":\"x\"}".to_vec());
        let bytes = e.encode();
        assert_eq!(Envelope::decode(&bytes), Ok(e));
        let mut newer = bytes.clone();
        newer[0] = WIRE_VERSION + 1;
        let refused = Envelope::decode(&newer).unwrap_err();
        assert_eq!(refused, Refused::Version(WIRE_VERSION + 1));
        assert!(refused
            .to_string()
            .contains("upgrade nodes one version at a time"));
        for cut in 0..8 {
            assert!(Envelope::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            Envelope::decode(&[WIRE_VERSION, 200, b'a']),
            Err(Refused::Malformed)
        );
    }
}
