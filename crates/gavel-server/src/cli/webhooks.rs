//! `gavel webhooks`: list endpoints, add and remove the API's, see deliveries and failures,
//! send a test event, replay logged events.

use super::output::{self, text};
use super::Remote;
use clap::Subcommand;
use gavel_client::ApiError;
use serde_json::json;

#[derive(Subcommand)]
pub enum WebhooksCmd {
    /// Endpoints, where they come from, and how many events wait for each.
    List,
    /// Creates an endpoint (kept by the server; the configuration file's are fixed).
    Add {
        name: String,
        /// Where events are POSTed (http:// or https://).
        #[arg(value_name = "URL")]
        endpoint_url: String,
        /// Only these events (comma-separated, e.g. participant_joined,participant_left).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// The API key that signs its requests (default: the server's).
        #[arg(long = "signing-key")]
        signing_key: Option<String>,
    },
    /// Removes an endpoint created through the API, with what waits for it.
    Remove { name: String },
    /// The delivery log, newest first (`--failures`: only dropped events), and what waits.
    Deliveries {
        name: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        failures: bool,
    },
    /// Sends a `test` event to one endpoint.
    Test { name: String },
    /// Queues logged events again (same ids and bodies).
    Replay {
        name: String,
        #[arg(required = true)]
        event_ids: Vec<String>,
    },
}

pub async fn run(command: WebhooksCmd, remote: &Remote) -> Result<(), ApiError> {
    let api = remote.client();
    match command {
        WebhooksCmd::List => {
            let v = api.webhooks().await?;
            let rows = v["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let events: Vec<String> = e["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(text)
                        .collect();
                    vec![
                        text(&e["name"]),
                        text(&e["url"]),
                        if events.is_empty() {
                            "all".into()
                        } else {
                            events.join(",")
                        },
                        text(&e["source"]),
                        text(&e["pending"]),
                    ]
                })
                .collect();
            output::print(
                remote.json,
                &v,
                &["NAME", "URL", "EVENTS", "SOURCE", "PENDING"],
                rows,
            );
        }
        WebhooksCmd::Add {
            name,
            endpoint_url,
            events,
            signing_key,
        } => {
            let mut body = json!({"name": name, "url": endpoint_url, "events": events});
            if let Some(k) = signing_key {
                body["api_key"] = json!(k);
            }
            let v = api.add_webhook(body).await?;
            output::done(remote.json, &v, &format!("added webhook endpoint {name}"));
        }
        WebhooksCmd::Remove { name } => {
            let v = api.remove_webhook(&name).await?;
            output::done(remote.json, &v, &format!("removed webhook endpoint {name}"));
        }
        WebhooksCmd::Deliveries {
            name,
            limit,
            failures,
        } => {
            let v = api.webhook_deliveries(&name, limit).await?;
            let mut rows: Vec<Vec<String>> = v["pending"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        output::time(&p["created_at"]),
                        text(&p["event_id"]),
                        text(&p["kind"]),
                        text(&p["room"]),
                        "pending".into(),
                        text(&p["attempts"]),
                        text(&p["last_error"]),
                    ]
                })
                .collect();
            rows.extend(
                v["deliveries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|d| !failures || d["outcome"] == "dropped")
                    .map(|d| {
                        vec![
                            output::time(&d["at"]),
                            text(&d["event_id"]),
                            text(&d["kind"]),
                            text(&d["room"]),
                            text(&d["outcome"]),
                            text(&d["attempts"]),
                            text(&d["error"]),
                        ]
                    }),
            );
            output::print(
                remote.json,
                &v,
                &[
                    "TIME (UTC)",
                    "EVENT",
                    "KIND",
                    "ROOM",
                    "STATE",
                    "ATTEMPTS",
                    "ERROR",
                ],
                rows,
            );
        }
        WebhooksCmd::Test { name } => {
            let v = api.test_webhook(&name).await?;
            output::done(
                remote.json,
                &v,
                &format!("queued test event {} for {name}", text(&v["event_id"])),
            );
        }
        WebhooksCmd::Replay { name, event_ids } => {
            let ids: Vec<&str> = event_ids.iter().map(String::as_str).collect();
            let v = api.replay_webhooks(&name, &ids).await?;
            let n = v["replayed"].as_array().map_or(0, Vec::len);
            output::done(
                remote.json,
                &v,
                &format!("queued {n} of {} event(s) again for {name}", ids.len()),
            );
        }
    }
    Ok(())
}
