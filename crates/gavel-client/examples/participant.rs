//! A minimal interactive participant: joins a room, prints every message it receives, and sends
//! each line typed on stdin as a request.
//!
//! ```sh
//! cargo run -p gavel-client --example participant -- demo alice host
//! # then type: {"type":"publish_track","source":"microphone"}
//! #            {"type":"mute","identity":"bob","source":"microphone"}
//! ```
//!
//! Arguments: ROOM IDENTITY [ROLE]. Environment: GAVEL_URL (default ws://127.0.0.1:7880),
//! GAVEL_API_KEY / GAVEL_API_SECRET (default devkey / secret, as `gavel dev`).

use gavel_client::{AccessToken, Message, RtcClient};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(room), Some(identity)) = (args.first(), args.get(1)) else {
        eprintln!("usage: participant ROOM IDENTITY [ROLE]");
        std::process::exit(2);
    };
    let role = args.get(2).map(String::as_str).unwrap_or("participant");
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let url = env("GAVEL_URL", "ws://127.0.0.1:7880");
    let token = AccessToken::new(
        &env("GAVEL_API_KEY", "devkey"),
        &env("GAVEL_API_SECRET", "secret"),
    )
    .join(room, identity)
    .name(identity)
    .role(role)
    .to_jwt();
    let client = match RtcClient::connect(&url, &token).await {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            eprintln!("join refused: {e}");
            std::process::exit(1);
        }
    };
    let printer = client.clone();
    tokio::spawn(async move {
        loop {
            match printer.next(Duration::from_secs(3600)).await {
                Some(Message::Event { seq, event }) => {
                    println!(
                        "#{seq} {}",
                        serde_json::to_string(&event).unwrap_or_default()
                    )
                }
                Some(Message::Response { seq, body }) => println!("#{seq} {body}"),
                Some(Message::Closed { code, reason }) => {
                    println!("closed: {code} {reason}");
                    std::process::exit(0);
                }
                None => {}
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match serde_json::from_str(&line) {
            Ok(body) => match client.request(body).await {
                Ok(r) => println!("ok: {r}"),
                Err(e) => println!("error: {e}"),
            },
            Err(e) => println!("not JSON: {e}"),
        }
    }
}
