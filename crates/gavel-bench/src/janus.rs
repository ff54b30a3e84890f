//! The peer: the same crowd against Janus's VideoRoom plugin over its WebSocket transport.
//! N participants join one videoroom (each its own Janus session and plugin handle, joined as a
//! publisher without media); an admin kicks one, and every other participant's
//! `{"kicked": <id>}` event is timed like Gavel's `participant_left`.
//!
//! The room is created with `notify_joining: false`, Janus's equivalent of Gavel's unlisted
//! audience: joins are not broadcast (otherwise the join storm is O(N²) messages), but a kick
//! is still told to everyone. `moderate` (muting a participant's stream) needs a published
//! WebRTC stream, which a signalling-only generator cannot offer; Janus answers it with
//! error 428 "No such stream", so the kick is the comparable action.

use crate::probe::Probes;
use crate::report::Report;
use crate::Args;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub(crate) const ROOM_SECRET: &str = "bench";

/// One Janus session with the VideoRoom plugin attached.
pub(crate) struct Handle {
    sink: SplitSink<Ws, Message>,
    stream: SplitStream<Ws>,
    session: u64,
    handle: u64,
    next: u64,
}

impl Handle {
    pub(crate) async fn open(url: &str) -> Result<Handle, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "janus-protocol".parse().expect("header value"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| e.to_string())?;
        let (sink, stream) = ws.split();
        let mut h = Handle {
            sink,
            stream,
            session: 0,
            handle: 0,
            next: 0,
        };
        h.session = h.call(json!({"janus": "create"})).await?["data"]["id"]
            .as_u64()
            .ok_or("create: no session id")?;
        let attach =
            json!({"janus": "attach", "session_id": h.session, "plugin": "janus.plugin.videoroom"});
        h.handle = h.call(attach).await?["data"]["id"]
            .as_u64()
            .ok_or("attach: no handle id")?;
        Ok(h)
    }

    /// Sends one request and returns its final answer (skipping the `ack` of async requests).
    async fn call(&mut self, mut msg: Value) -> Result<Value, String> {
        self.next += 1;
        let transaction = format!("t{}", self.next);
        msg["transaction"] = json!(transaction);
        self.sink
            .send(Message::Text(msg.to_string().into()))
            .await
            .map_err(|e| e.to_string())?;
        while let Some(frame) = self.stream.next().await {
            let Ok(Message::Text(text)) = frame else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if v["transaction"] == json!(transaction) && v["janus"] != "ack" {
                if v["janus"] == "error" {
                    return Err(format!("janus error: {}", v["error"]));
                }
                return Ok(v);
            }
        }
        Err("janus closed the connection".into())
    }

    /// A VideoRoom request on this handle; returns the plugin's data.
    pub(crate) async fn videoroom(&mut self, body: Value) -> Result<Value, String> {
        Ok(self.videoroom_jsep(body, None).await?.0)
    }

    /// A VideoRoom request with an optional JSEP (an offer or an answer); returns the plugin's
    /// data and the JSEP of the answer, if it carries one.
    pub(crate) async fn videoroom_jsep(
        &mut self,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<(Value, Option<Value>), String> {
        let mut msg = json!({"janus": "message", "session_id": self.session, "handle_id": self.handle, "body": body});
        if let Some(jsep) = jsep {
            msg["jsep"] = jsep;
        }
        let mut reply = self.call(msg).await?;
        let data = reply["plugindata"]["data"].take();
        if let Some(error) = data.get("error") {
            return Err(format!("videoroom: {error}"));
        }
        Ok((data, reply.get_mut("jsep").map(Value::take)))
    }

    /// Reads what Janus sends on this session until a message satisfies `wanted`, for at most
    /// `timeout`.
    pub(crate) async fn wait_for(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<(), String> {
        let read = async {
            while let Some(frame) = self.stream.next().await {
                let Ok(Message::Text(text)) = frame else {
                    continue;
                };
                if serde_json::from_str(&text).is_ok_and(|v| wanted(&v)) {
                    return Ok(());
                }
            }
            Err("janus closed the connection".to_string())
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| format!("no such message from Janus within {timeout:?}"))?
    }

    /// From here on only reads (and drops) what Janus sends, so its queue for this session
    /// never grows; the session lives until the returned task is aborted or Janus closes it.
    pub(crate) fn keep_open(self) -> tokio::task::JoinHandle<()> {
        let Handle {
            sink, mut stream, ..
        } = self;
        tokio::spawn(async move {
            let _sink = sink;
            while let Some(Ok(_)) = stream.next().await {}
        })
    }
}

pub async fn run(args: &Args, timeout: Duration) -> Result<(), String> {
    let url = args.url.replacen("http", "ws", 1);
    let n = args.n;
    let room = u64::from(std::process::id()) * 1000 + 1;
    let mut admin = Handle::open(&url).await?;
    admin
        .videoroom(
            json!({"request": "create", "room": room, "publishers": n + 10,
            "notify_joining": false, "secret": ROOM_SECRET}),
        )
        .await?;

    let baseline = args.server_pid.and_then(crate::report::rss_kib);
    let probes = Arc::new(Probes::new(n));
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<(usize, Result<u64, String>)>();
    let started = Instant::now();
    for i in 0..n {
        let (url, gate, probe, joined_tx) = (
            url.clone(),
            gate.clone(),
            probes.probe(i),
            joined_tx.clone(),
        );
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let join = async {
                let mut h = Handle::open(&url).await?;
                let joined = h
                    .videoroom(
                        json!({"request": "join", "ptype": "publisher", "room": room,
                        "display": format!("p{i}")}),
                    )
                    .await?;
                let id = joined["id"].as_u64().ok_or("join: no participant id")?;
                Ok::<_, String>((h, id))
            };
            let (h, id) = match join.await {
                Ok(x) => x,
                Err(e) => {
                    let _ = joined_tx.send((i, Err(e)));
                    return;
                }
            };
            drop(permit);
            let _ = joined_tx.send((i, Ok(id)));
            // From here on only listen, on the raw socket, exactly as Gavel's viewers do.
            if let Ok(ws) = h.sink.reunite(h.stream) {
                if let MaybeTlsStream::Plain(tcp) = ws.into_inner() {
                    probe.read_raw(tcp).await;
                }
            }
        });
    }
    drop(joined_tx);
    let mut ids = vec![0u64; n];
    let mut times = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + timeout;
    while times.len() < n {
        match tokio::time::timeout_at(deadline, joined_rx.recv()).await {
            Ok(Some((i, Ok(id)))) => {
                ids[i] = id;
                times.push(Instant::now());
            }
            Ok(Some((i, Err(e)))) => return Err(format!("janus client {i} failed to join: {e}")),
            Ok(None) => return Err("janus clients ended early".into()),
            Err(_) => return Err(format!("only {} of {n} joined Janus in time", times.len())),
        }
    }
    let mut join = Report::from_instants("join", started, &times);
    join.extra(
        "joins_per_second",
        n as f64 / started.elapsed().as_secs_f64(),
    );
    println!("{}", join.to_json());

    if let Some(pid) = args.server_pid {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = crate::report::rss_kib(pid).ok_or("cannot read Janus's RSS")?;
        let growth = rss.saturating_sub(baseline.unwrap_or(0));
        println!(
            "{}",
            json!({"scenario": "memory", "n": n, "server_rss_kib": rss,
                "kib_per_participant": growth as f64 / n as f64})
        );
    }

    let target = ids[n - 1];
    let kick = probes
        .measure(
            "kick",
            &format!("\"kicked\":{target}"),
            n - 1,
            timeout,
            || async {
                admin
                    .videoroom(json!({"request": "kick", "room": room, "id": target,
                        "secret": ROOM_SECRET}))
                    .await
                    .map(drop)
            },
        )
        .await?;
    println!("{}", kick.to_json());
    let _ = admin
        .videoroom(json!({"request": "destroy", "room": room, "secret": ROOM_SECRET}))
        .await;
    Ok(())
}
