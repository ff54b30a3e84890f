//! How operator commands print: readable tables by default, the server's JSON with `--json`.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::Value;

/// Prints `value` as JSON, or as a table of `rows` under `headers`.
pub fn print(json: bool, value: &Value, headers: &[&str], rows: Vec<Vec<String>>) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(headers.to_vec());
    for r in rows {
        table.add_row(r);
    }
    println!("{table}");
}

/// For commands whose answer is "done": a short confirmation, or the JSON.
pub fn done(json: bool, value: &Value, message: &str) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{message}");
    }
}

pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `microphone:on camera:muted(by host)` for a participant's tracks.
pub fn tracks(p: &Value) -> String {
    let list: Vec<String> = p["tracks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let state = match (t["muted"].as_bool(), t["muted_by"].as_str()) {
                (Some(true), Some(by)) => format!("muted by {by}"),
                (Some(true), None) => "muted".into(),
                _ => "on".into(),
            };
            format!("{}:{state}", text(&t["source"]))
        })
        .collect();
    if list.is_empty() {
        "-".into()
    } else {
        list.join(" ")
    }
}

/// Milliseconds since the epoch as `HH:MM:SS` (UTC) of that day.
pub fn time(v: &Value) -> String {
    let secs = v.as_u64().unwrap_or(0) / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}
