//! The crowd: N lean WebSocket participants. They do not parse JSON; they look for byte
//! patterns in each frame, so the generator stays cheap next to the server it measures.

use crate::report::Report;
use crate::Args;
use futures_util::{SinkExt, StreamExt};
use gavel_client::{AccessToken, ApiClient};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// Participants that publish a microphone (so mute-all has tracks to mute); everyone else is a
/// viewer. A 10,000-person room is an audience with a few speakers: past the room's
/// `listed_limit` viewers are counted rather than announced (docs/protocol.md, "Large rooms").
pub const PUBLISHERS: usize = 10;

/// What the crowd is waiting for: frames containing `pattern`.
struct Probe {
    pattern: String,
}

pub struct Crowd {
    n: usize,
    prefix: String,
    probe: watch::Sender<Option<Arc<Probe>>>,
    hits: tokio::sync::Mutex<mpsc::UnboundedReceiver<(usize, Instant)>>,
    /// When each client first saw `present == n` (a consistent view of the full room).
    consistent: Vec<Instant>,
    connected: Vec<Instant>,
}

impl Crowd {
    /// Creates the room and joins `n` participants, `concurrency` connection attempts at a time.
    pub async fn join(
        ws: &str,
        args: &Args,
        room: &str,
        timeout: Duration,
    ) -> Result<Crowd, String> {
        let http = ws.replacen("ws", "http", 1);
        let api = ApiClient::new(
            &http,
            &AccessToken::new(&args.key, &args.secret)
                .admin(None)
                .to_jwt(),
        );
        let mut settings = serde_json::json!({"remote_unmute": "force", "max_participants": 0});
        if let Some(limit) = args.listed_limit {
            settings["listed_limit"] = limit.into();
        }
        api.create_room(room, settings)
            .await
            .map_err(|e| e.to_string())?;
        let n = args.n;
        let prefix = format!("p{}-", std::process::id());
        let (probe, probe_rx) = watch::channel(None::<Arc<Probe>>);
        let (hit_tx, hits) = mpsc::unbounded_channel();
        let (state_tx, mut state_rx) = mpsc::unbounded_channel::<(usize, Event)>();
        let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
        let full = format!("\"present\":{n},");
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
            let url = format!("{ws}/v1/rtc?access_token={token}");
            let (gate, probe_rx, hit_tx, state_tx, full) = (
                gate.clone(),
                probe_rx.clone(),
                hit_tx.clone(),
                state_tx.clone(),
                full.clone(),
            );
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await;
                let ws = match tokio_tungstenite::connect_async(&url).await {
                    Ok((ws, _)) => ws,
                    Err(e) => {
                        let _ = state_tx.send((i, Event::Failed(e.to_string())));
                        return;
                    }
                };
                drop(permit);
                let _ = state_tx.send((i, Event::Connected(Instant::now())));
                let (mut sink, mut stream) = ws.split();
                if i < PUBLISHERS {
                    let publish = r#"{"id":1,"type":"publish_track","source":"microphone"}"#;
                    let _ = sink.send(Message::Text(publish.into())).await;
                }
                let mut consistent = false;
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    if !consistent && text.contains(&full) {
                        consistent = true;
                        let _ = state_tx.send((i, Event::Consistent(Instant::now())));
                    }
                    let current = probe_rx.borrow().clone();
                    if let Some(p) = current {
                        if text.contains(&p.pattern) {
                            let _ = hit_tx.send((i, Instant::now()));
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
            probe,
            hits: tokio::sync::Mutex::new(hits),
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

    /// Runs `action` and measures, for every client, the time until a frame with `pattern`.
    pub async fn measure<F, Fut>(
        &self,
        name: &str,
        pattern: &str,
        timeout: Duration,
        action: F,
    ) -> Result<Report, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut hits = self.hits.lock().await;
        while hits.try_recv().is_ok() {}
        let expected = if name == "kick" { self.n - 1 } else { self.n };
        self.probe.send_replace(Some(Arc::new(Probe {
            pattern: pattern.to_string(),
        })));
        let started = Instant::now();
        action().await?;
        let mut seen = vec![None; self.n];
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        while got < expected {
            match tokio::time::timeout_at(deadline, hits.recv()).await {
                Ok(Some((i, t))) if seen[i].is_none() => {
                    seen[i] = Some(t);
                    got += 1;
                }
                Ok(Some(_)) => {}
                _ => {
                    return Err(format!(
                        "{name}: only {got} of {expected} clients got the event in time"
                    ))
                }
            }
        }
        self.probe.send_replace(None);
        let times: Vec<Instant> = seen.into_iter().flatten().collect();
        Ok(Report::from_instants(name, started, &times))
    }
}

enum Event {
    Connected(Instant),
    Consistent(Instant),
    Failed(String),
}
