//! `/metrics`: the Prometheus exposition reflects what happened over real sockets.

mod common;
use common::*;
use serde_json::json;

async fn scrape(ts: &TestServer) -> String {
    reqwest::get(format!("{}/metrics", ts.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample whose name-and-labels start with `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[tokio::test]
async fn metrics_follow_rooms_participants_actions_and_errors() {
    let ts = TestServer::start().await;
    let host = ts.join("m", "host", "host").await;
    let guest = ts.join("m", "guest", "participant").await;
    let _observer = ts.join("m", "obs", "observer").await;
    guest.publish("microphone").await.unwrap();
    host.request(json!({"type": "mute", "identity": "guest", "source": "microphone"}))
        .await
        .unwrap();
    let denied = guest
        .request(json!({"type": "kick", "identity": "host"}))
        .await
        .unwrap_err();
    assert_eq!(denied.code.as_str(), "permission_denied");
    let missing = ts.admin().get_room("nowhere").await.unwrap_err();
    assert_eq!(missing.status, 404);
    // Every client has its responses, so the room has reported its counts.
    host.request(json!({"type": "ping"})).await.unwrap();

    let text = scrape(&ts).await;
    assert_eq!(sample(&text, "gavel_rooms "), 1.0);
    assert_eq!(sample(&text, "gavel_connections "), 3.0);
    assert_eq!(
        sample(&text, r#"gavel_participants{visibility="present"}"#),
        2.0
    );
    assert_eq!(
        sample(&text, r#"gavel_participants{visibility="hidden"}"#),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"gavel_host_actions_total{action="mute",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"gavel_host_actions_total{action="kick",outcome="permission_denied"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&text, r#"gavel_errors_total{code="permission_denied"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"gavel_errors_total{code="not_found"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"gavel_events_total{kind="track_muted"}"#),
        1.0
    );
    assert!(sample(&text, "gavel_messages_out_total ") >= 10.0);
    assert!(sample(&text, "gavel_fanout_seconds_count ") >= 5.0);

    // Leaving and the end of the session bring the gauges back down.
    ts.admin().end_session("m").await.unwrap();
    host.wait_closed(WAIT).await;
    guest.wait_closed(WAIT).await;
    let text = scrape(&ts).await;
    assert_eq!(
        sample(&text, r#"gavel_participants{visibility="present"}"#),
        0.0
    );
    ts.stop().await;
}
