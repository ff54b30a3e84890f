//! A TURN client over real UDP sockets (`turn-client-proto`), for the relay's tests.

use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use turn_client_proto::api::{TurnClientApi, TurnConfig as ClientConfig, TurnEvent, TurnPollRet};
use turn_client_proto::udp::TurnClientUdp;
use turn_types::stun::TransportType;
use turn_types::TurnCredentials;

/// A TURN client over UDP, driven until `done` says so or `limit` passes; returns its events.
pub struct Client {
    socket: UdpSocket,
    turn: TurnClientUdp,
    base: Instant,
    pub events: Vec<TurnEvent>,
}

impl Client {
    pub async fn new(server: SocketAddr, username: &str, password: &str) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut config = ClientConfig::new(TurnCredentials::new(username, password));
        // As WebRTC stacks do: the user named, not hashed (RFC 8489's USERHASH).
        config.set_anonymous_username(stun_proto::auth::Feature::Disabled);
        Client {
            turn: TurnClientUdp::allocate(local, server, config),
            socket,
            base: Instant::now(),
            events: Vec::new(),
        }
    }

    fn now(&self) -> turn_types::Instant {
        turn_types::Instant::from_std(self.base)
    }

    pub async fn drive(&mut self, limit: Duration, done: impl Fn(&[TurnEvent]) -> bool) {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 2048];
        while !done(&self.events) && Instant::now() < end {
            let now = self.now();
            while let Some(t) = self.turn.poll_transmit(now) {
                self.socket.send_to(t.data.as_ref(), t.to).await.unwrap();
            }
            while let Some(e) = self.turn.poll_event() {
                self.events.push(e);
            }
            let wait = match self.turn.poll(now) {
                TurnPollRet::WaitUntil(at) => at
                    .to_std(self.base)
                    .saturating_duration_since(Instant::now()),
                _ => Duration::from_millis(10),
            }
            .min(Duration::from_millis(50));
            if let Ok(Ok((n, from))) =
                tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await
            {
                let transmit = turn_server_proto::api::Transmit {
                    data: &buf[..n],
                    transport: TransportType::Udp,
                    from,
                    to: self.socket.local_addr().unwrap(),
                };
                let now = self.now();
                let _ = self.turn.recv(transmit, now);
            }
        }
    }

    pub async fn allocate(&mut self) -> bool {
        self.drive(Duration::from_secs(5), |e| {
            e.iter().any(|e| {
                matches!(
                    e,
                    TurnEvent::AllocationCreated(..) | TurnEvent::AllocationCreateFailed(..)
                )
            })
        })
        .await;
        self.events
            .iter()
            .any(|e| matches!(e, TurnEvent::AllocationCreated(..)))
    }

    pub async fn send(&mut self, to: SocketAddr, data: &[u8]) {
        let now = self.now();
        if !self.turn.have_permission(TransportType::Udp, to.ip()) {
            self.turn
                .create_permission(TransportType::Udp, to.ip(), now)
                .unwrap();
            self.drive(Duration::from_secs(5), |e| {
                e.iter()
                    .any(|e| matches!(e, TurnEvent::PermissionCreated(..)))
            })
            .await;
        }
        let now = self.now();
        if let Ok(Some(t)) = self.turn.send_to(TransportType::Udp, to, data, now) {
            let t = t.build();
            self.socket.send_to(&t.data, t.to).await.unwrap();
        }
    }
}

/// The address of the first `turn:` URL of an ICE server.
pub fn turn_addr(server: &Value) -> SocketAddr {
    let url = server["urls"][0].as_str().unwrap();
    let addr = url.trim_start_matches("turn:").split('?').next().unwrap();
    addr.parse().unwrap()
}
