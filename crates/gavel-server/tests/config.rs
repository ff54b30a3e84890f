//! The configuration file: every key of gavel.example.toml loads; custom roles and room defaults
//! take effect over real sockets; bad files fail start-up naming the key.

mod common;
use common::*;
use gavel_client::{AccessToken, RtcClient};
use gavel_server::{config_file, Server};
use std::path::PathBuf;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gavel-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("gavel.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_example_file_loads() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../gavel.example.toml");
    let c = config_file::load(Some(&example), true).expect("example loads");
    assert!(c.roles.get("moderator").is_ok());
    assert_eq!(c.limits.outbox_capacity, 4096);
    assert_eq!(c.audit, gavel_server::config::AuditRetention::default());
}

/// The deployment example (`deploy/cluster.toml`) is a valid cluster node's configuration.
#[test]
fn the_cluster_deployment_example_loads() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cluster.toml");
    let c = config_file::load(Some(&example), false).expect("the example loads");
    assert!(c.cluster.enabled);
    assert_eq!(c.cluster.validate(&c.store), Ok(()));
    assert_eq!(c.media.udp_port, Some(7882));
}

#[test]
fn bad_files_name_the_offending_key() {
    let cases = [
        ("unknown", "colour = 3\n", "colour"),
        ("nested-unknown", "[limits]\nspeed = 1\n", "speed"),
        (
            "bad-type",
            "[room_defaults]\nmax_participants = \"many\"\n",
            "max_participants",
        ),
        (
            "bad-enum",
            "[room_defaults]\nremote_unmute = \"sometimes\"\n",
            "remote_unmute",
        ),
        (
            "bad-range",
            "[room_defaults]\nrequest_timeout_seconds = 0\n",
            "request_timeout_seconds",
        ),
        ("bad-role", "[roles.x]\nhost = [\"fly\"]\n", "host"),
        ("bad-bind", "bind = \"nowhere\"\n", "bind"),
        ("bad-retention", "[audit]\nmax_rows = -1\n", "max_rows"),
        ("unknown-audit", "[audit]\nkeep = 3\n", "keep"),
        (
            "bad-webhook-event",
            "[[webhooks.endpoints]]\nname = \"a\"\nurl = \"http://h/\"\nevents = [\"nope\"]\n",
            "nope",
        ),
        (
            "unknown-webhook-key",
            "[webhooks]\nretries = 3\n",
            "retries",
        ),
    ];
    for (name, text, key) in cases {
        let err = config_file::load(Some(&write(name, text)), true).unwrap_err();
        assert!(err.contains(key), "{name}: {err}");
    }
    let missing =
        config_file::load(Some(&PathBuf::from("/nonexistent/gavel.toml")), true).unwrap_err();
    assert!(missing.contains("does not exist"), "{missing}");
}

/// Webhook endpoints a server must refuse to start with, each named in the error.
#[test]
fn bad_webhook_endpoints_are_refused_at_start_up() {
    let endpoint = |name: &str, url: &str, key: Option<&str>| {
        let key = key
            .map(|k| format!("api_key = \"{k}\"\n"))
            .unwrap_or_default();
        format!("[[webhooks.endpoints]]\nname = \"{name}\"\nurl = \"{url}\"\n{key}")
    };
    let twice = format!(
        "{}{}",
        endpoint("a", "http://h/", None),
        endpoint("a", "http://h/", None)
    );
    for (name, text, needle) in [
        (
            "webhook-name",
            endpoint("Bad Name", "http://h/", None),
            "Bad Name",
        ),
        ("webhook-url", endpoint("a", "ftp://h/", None), "ftp://h/"),
        (
            "webhook-key",
            endpoint("a", "http://h/", Some("nokey")),
            "nokey",
        ),
        ("webhook-twice", twice, "named twice"),
    ] {
        let config = config_file::load(Some(&write(name, &text)), true).unwrap();
        let err = config.validate().unwrap_err();
        assert!(err.contains(needle), "{name}: {err}");
    }
}

#[test]
fn the_binary_refuses_a_bad_file() {
    let p = write(
        "binary",
        "[room_defaults]\nduplicate_identity = \"sometimes\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["dev", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("duplicate_identity"), "{err}");
}

#[tokio::test]
async fn custom_roles_and_room_defaults_apply() {
    let p = write(
        "live",
        r#"
bind = "127.0.0.1:0"
[keys]
backend = "0123456789abcdef0123456789abcdef"
[room_defaults]
remote_unmute = "force"
max_participants = 3
[roles.moderator]
can_send = ["microphone"]
can_receive = ["microphone", "camera"]
host = ["mute_audio"]
"#,
    );
    let config = config_file::load(Some(&p), false).unwrap();
    let server = Server::start(config).await.unwrap();
    let ws = format!("ws://{}", server.addr);
    let token = |id: &str, role: &str| {
        AccessToken::new("backend", "0123456789abcdef0123456789abcdef")
            .join("cfg", id)
            .role(role)
            .to_jwt()
    };
    // The dev key is not configured outside dev mode.
    let dev = AccessToken::new(KEY, SECRET).join("cfg", "x").to_jwt();
    assert!(RtcClient::connect(&ws, &dev).await.is_err());

    let m = RtcClient::connect(&ws, &token("mod", "moderator"))
        .await
        .unwrap();
    let g = RtcClient::connect(&ws, &token("guest", "participant"))
        .await
        .unwrap();
    let me = m.state().me.unwrap();
    assert_eq!(me.role, "moderator");
    let room = &m.state();
    assert_eq!(room.room, "cfg");
    g.publish("microphone").await.unwrap();
    // The moderator holds mute_audio but not mute_video, and the room unmutes by force.
    let r = m
        .request(serde_json::json!({"type":"mute","identity":"guest","source":"microphone"}))
        .await;
    assert!(r.is_ok(), "{r:?}");
    let r = m.request(serde_json::json!({"type":"mute","identity":"guest","source":"microphone","muted":false})).await.unwrap();
    assert_eq!(r["changed"], 1);
    let e = m
        .request(serde_json::json!({"type":"mute","identity":"guest","source":"camera"}))
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "permission_denied");
    assert!(m.publish("camera").await.is_err());
    // max_participants = 3 from the defaults.
    let _third = RtcClient::connect(&ws, &token("c", "participant"))
        .await
        .unwrap();
    let full = RtcClient::connect(&ws, &token("d", "participant"))
        .await
        .err()
        .unwrap();
    assert_eq!(full.code.as_str(), "room_full");
    server.shutdown(WAIT).await;
}
