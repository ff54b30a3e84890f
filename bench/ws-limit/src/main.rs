//! The fan-out limit Gavel is compared with: no rooms, no parsing, no authorization. It speaks
//! just enough of Gavel's API for `gavel-bench`: a WebSocket at `/v1/rtc` (each join broadcasts
//! the participant count, as Gavel does), `POST /v1/rooms` (accepted), and
//! `POST /v1/rooms/{room}/mute-all`, which writes one pre-serialised frame to every socket.
//!
//! Usage: `ws-limit [ADDR]` (default 127.0.0.1:7991).

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

#[derive(Clone, Default)]
struct Clients(Arc<Mutex<Vec<mpsc::UnboundedSender<Utf8Bytes>>>>);

impl Clients {
    /// Queues the same bytes for every socket.
    fn broadcast(&self, frame: Utf8Bytes) {
        let list = self.0.lock().unwrap();
        for tx in list.iter() {
            let _ = tx.send(frame.clone());
        }
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7991".into());
    let clients = Clients::default();
    let app = Router::new()
        .route("/v1/rtc", get(rtc))
        .route("/v1/rooms", post(|| async { "{}" }))
        .route("/v1/rooms/{room}/mute-all", post(mute_all))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "{}") })
        .with_state(clients);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("ws-limit listening on {addr}");
    axum::serve(listener, app).await.expect("serve");
}

async fn mute_all(State(clients): State<Clients>) -> &'static str {
    clients.broadcast(Utf8Bytes::from_static(
        r#"{"type":"track_muted","source":"microphone","muted":true,"all":true}"#,
    ));
    "{}"
}

async fn rtc(State(clients): State<Clients>, ws: WebSocketUpgrade) -> axum::response::Response {
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session(socket, clients))
}

async fn session(socket: WebSocket, clients: Clients) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let present = {
        let mut list = clients.0.lock().unwrap();
        list.push(tx);
        list.len()
    };
    clients.broadcast(Utf8Bytes::from(format!(
        r#"{{"type":"counts_updated","present":{present},"hidden":0}}"#
    )));
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(f) => if sink.send(Message::Text(f)).await.is_err() { break },
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
}
