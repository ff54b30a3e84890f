//! The crowd: N lean WebSocket participants. They do not parse JSON; they look for byte
//! patterns in each frame, so the generator stays cheap next to the server it measures.

use crate::probe::Probes;
use crate::report::Report;
use crate::Args;
use futures_util::{SinkExt, StreamExt};
use gavel_client::{AccessToken, ApiClient};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Participants that publish a microphone (so mute-all has tracks to mute, and the active-speaker
/// churn has talkers); everyone else is a
/// viewer. A 10,000-person room is an audience with a few speakers: past the room's
/// `listed_limit` viewers are counted rather than announced (docs/protocol.md, "Large rooms").
pub const PUBLISHERS: usize = crate::churn::TALKERS;

pub struct Crowd {
    n: usize,
    prefix: String,
    probes: Probes,
    /// Each client's outgoing half: the churn scenario sends audio levels through it.
    senders: Vec<mpsc::UnboundedSender<String>>,
    speaker_updates: Arc<AtomicUsize>,
    /// When each client first saw `present == n` (a consistent view of the full room).
    consistent: Vec<Instant>,
    connected: Vec<Instant>,
}

impl Crowd {
    /// Creates the room (unless it exists) and joins `n` participants, `concurrency` connection
    /// attempts at a time. `http`: the server API; `ws`: where sockets go, taken in turn (a
    /// cluster's nodes). Each client is in once it sees `args.room_total` present (default:
    /// `n`; more when several generator processes fill one room).
    pub async fn join(
        http: &str,
        ws: &[String],
        args: &Args,
        room: &str,
        timeout: Duration,
    ) -> Result<Crowd, String> {
        let api = ApiClient::new(
            http,
            &AccessToken::new(&args.key, &args.secret)
                .admin(None)
                .to_jwt(),
        );
        let mut settings = serde_json::json!({"remote_unmute": "force", "max_participants": 0});
        if let Some(limit) = args.listed_limit {
            settings["listed_limit"] = limit.into();
        }
        match api.create_room(room, settings).await {
            Ok(_) => {}
            // Another generator process of the same room made it first.
            Err(e) if e.status == 409 => {}
            Err(e) => return Err(e.to_string()),
        }
        let n = args.n;
        let prefix = format!("p{}-", std::process::id());
        let probes = Probes::new(n);
        let speaker_updates = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::with_capacity(n);
        let (state_tx, mut state_rx) = mpsc::unbounded_channel::<(usize, Event)>();
        let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
        let full = format!("\"present\":{},", args.room_total.unwrap_or(n));
        for i in 0..n {
            let token = AccessToken::new(&args.key, &args.secret)
                .join(room, &format!("{prefix}{i}"))
                .role(if i < PUBLISHERS {
                    "participant"
                } else {
                    "viewer"
                })
                .ttl(3600)
                .to_jwt();
            let url = format!("{}/v1/rtc?access_token={token}", ws[i % ws.len()]);
            let (gate, probe, state_tx, full) = (
                gate.clone(),
                probes.probe(i),
                state_tx.clone(),
                full.clone(),
            );
            let updates = (i == 0).then(|| speaker_updates.clone());
            let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
            senders.push(out_tx);
            tokio::spawn(async move {
                // Held until the room answered the join (its first frame), not just until the
                // socket opened: the server joins after the upgrade, so `concurrency` bounds
                // the joins in flight.
                let mut permit = gate.acquire_owned().await.ok();
                let ws = match tokio_tungstenite::connect_async(&url).await {
                    Ok((ws, _)) => ws,
                    Err(e) => {
                        let _ = state_tx.send((i, Event::Failed(e.to_string())));
                        return;
                    }
                };
                let _ = state_tx.send((i, Event::Connected(Instant::now())));
                if i >= PUBLISHERS {
                    return viewer(ws, full, i, state_tx, probe, permit).await;
                }
                let (mut sink, mut stream) = ws.split();
                let publish = r#"{"id":1,"type":"publish_track","source":"microphone"}"#;
                let _ = sink.send(Message::Text(publish.into())).await;
                // Requests the generator asks this client to send (audio levels).
                tokio::spawn(async move {
                    while let Some(text) = out_rx.recv().await {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                });
                let mut consistent = false;
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    permit.take();
                    if !consistent && text.contains(&full) {
                        consistent = true;
                        let _ = state_tx.send((i, Event::Consistent(Instant::now())));
                    }
                    probe.check(&text);
                    if let Some(updates) = &updates {
                        if text.contains("\"type\":\"active_speakers\"") {
                            updates.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        drop(state_tx);
        let mut connected = vec![None; n];
        let mut consistent = vec![None; n];
        let mut done = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        while done < n {
            match tokio::time::timeout_at(deadline, state_rx.recv()).await {
                Ok(Some((i, Event::Connected(t)))) => connected[i] = Some(t),
                Ok(Some((i, Event::Consistent(t)))) => {
                    consistent[i] = Some(t);
                    done += 1;
                }
                Ok(Some((i, Event::Failed(e)))) => {
                    return Err(format!("client {i} failed to join: {e}"))
                }
                Ok(None) => return Err("clients ended early".into()),
                Err(_) => {
                    return Err(format!(
                        "only {done} of {n} clients saw the full room in time"
                    ))
                }
            }
        }
        Ok(Crowd {
            n,
            prefix,
            probes,
            senders,
            speaker_updates,
            consistent: consistent
                .into_iter()
                .map(|t| t.expect("counted"))
                .collect(),
            connected: connected
                .into_iter()
                .map(|t| t.expect("connected before consistent"))
                .collect(),
        })
    }

    pub fn identity(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    /// Join storm: from the start to each client's consistent view of the full room.
    pub fn join_report(&self, started: Instant) -> Report {
        let last_connect = self.connected.iter().max().copied().unwrap_or(started);
        let mut r = Report::from_instants("join", started, &self.consistent);
        let secs = (last_connect - started).as_secs_f64().max(1e-9);
        r.extra("joins_per_second", self.n as f64 / secs);
        r
    }

    pub fn probes(&self) -> &Probes {
        &self.probes
    }

    /// Client `i`'s outgoing queue (fire and forget).
    pub fn sender(&self, i: usize) -> mpsc::UnboundedSender<String> {
        self.senders[i].clone()
    }

    /// `active_speakers` events client 0 has received so far.
    pub fn speaker_updates(&self) -> usize {
        self.speaker_updates.load(Ordering::Relaxed)
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A viewer only listens. It reads frames until it holds a consistent view of the full room,
/// then listens on the raw socket ([`crate::probe::Probe::read_raw`]; the measured events are
/// small, so never fragmented).
async fn viewer(
    mut ws: Ws,
    full: String,
    i: usize,
    state_tx: mpsc::UnboundedSender<(usize, Event)>,
    probe: crate::probe::Probe,
    mut permit: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(text) = msg {
            permit.take();
            if text.contains(&full) {
                let _ = state_tx.send((i, Event::Consistent(Instant::now())));
                break;
            }
        }
    }
    if let MaybeTlsStream::Plain(tcp) = ws.into_inner() {
        probe.read_raw(tcp).await;
    }
}

enum Event {
    Connected(Instant),
    Consistent(Instant),
    Failed(String),
}
