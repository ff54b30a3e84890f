//! The authorization matrix over real sockets: every host control × every built-in role as a
//! client action (only `host` succeeds; a refusal is `permission_denied` and changes nothing, not
//! even an event), LiveKit grant fields narrowing a role, hidden participants, the server API's
//! token grants, and "nobody grants a host control it does not hold".

mod common;
use common::*;
use gavel_client::{AccessToken, ApiClient, Message, RtcClient};
use serde_json::{json, Value};

/// Everything the server API shows about a room (and which rooms exist).
async fn snapshot(api: &ApiClient, room: &str) -> Value {
    let participants = api.list_participants(room).await.unwrap();
    let bans = api.list_bans(room).await.unwrap();
    let rooms: Vec<Value> = api.list_rooms().await.unwrap()["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    json!({"participants": participants, "bans": bans, "rooms": rooms})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Mute,
    RemoteUnmute,
    RequestMedia,
    MuteAll,
    BatchUpdate,
    Kick,
    KickBan,
    EndSession,
    Pin,
    Unpin,
    UpdateParticipant,
    Move,
    LiftBan,
}

impl Control {
    fn slug(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    /// The client request; `target` is a participant with a live microphone and a muted camera.
    fn request(self, room: &str) -> Value {
        match self {
            Control::Mute => json!({"type": "mute", "identity": "target", "source": "microphone"}),
            Control::RemoteUnmute => {
                json!({"type": "mute", "identity": "target", "source": "camera", "muted": false})
            }
            Control::RequestMedia => {
                json!({"type": "request_media", "identity": "target", "source": "camera"})
            }
            Control::MuteAll => json!({"type": "mute_all", "source": "microphone"}),
            Control::BatchUpdate => {
                json!({"type": "batch_update", "updates": {"target": {"set_audio": false}}})
            }
            Control::Kick => json!({"type": "kick", "identity": "target"}),
            Control::KickBan => json!({"type": "kick", "identity": "target", "ban_seconds": 600}),
            Control::EndSession => json!({"type": "end_session"}),
            Control::Pin => json!({"type": "pin", "identity": "target"}),
            Control::Unpin => json!({"type": "unpin"}),
            Control::UpdateParticipant => {
                json!({"type": "update_participant", "identity": "target", "name": "renamed"})
            }
            Control::Move => {
                json!({"type": "move", "identity": "target", "destination": format!("{room}-elsewhere")})
            }
            Control::LiftBan => json!({"type": "lift_ban", "identity": "ghost"}),
        }
    }

    /// What the target hears when a host carries the control out.
    fn target_event(self) -> Option<&'static str> {
        Some(match self {
            Control::Mute | Control::MuteAll | Control::BatchUpdate => "track_muted",
            Control::RemoteUnmute | Control::RequestMedia => "media_requested",
            Control::Kick | Control::KickBan | Control::EndSession => "room_left",
            Control::Pin => "pinned",
            Control::Unpin => "unpinned",
            Control::UpdateParticipant => "participant_updated",
            Control::Move => "moved",
            Control::LiftBan => return None,
        })
    }

    /// Consent requests (the default `ask` policy for unmute) leave the API's view unchanged.
    fn changes_snapshot(self) -> bool {
        !matches!(self, Control::RemoteUnmute | Control::RequestMedia)
    }
}

/// One cell of the matrix, in a fresh room: `actor` (with `role`) uses `control` on `target`
/// while `watcher` looks on.
async fn cell(ts: &TestServer, control: Control, role: &str) {
    let room = format!("{}-{role}", control.slug());
    let what = format!("{control:?} by a {role}");
    let api = ts.admin();
    api.create_room(&room, json!({})).await.unwrap();
    let target = ts.join(&room, "target", "participant").await;
    target.publish("microphone").await.unwrap();
    target
        .request(json!({"type": "publish_track", "source": "camera", "muted": true}))
        .await
        .unwrap();
    let watcher = ts.join(&room, "watcher", "participant").await;
    let actor = ts.join(&room, "actor", role).await;
    match control {
        Control::Unpin => {
            api.pin(&room, "target").await.unwrap();
        }
        Control::LiftBan => {
            api.remove(&room, "ghost", Some(600)).await.unwrap();
        }
        // A host may move people into its room's children (and rooms its token names).
        Control::Move => {
            let child = format!("{room}-elsewhere");
            api.create_room(&child, json!({ "parent": room }))
                .await
                .unwrap();
        }
        _ => {}
    }
    for c in [&target, &watcher, &actor] {
        settle(c).await;
    }
    let before = snapshot(&api, &room).await;

    let result = actor.request(control.request(&room)).await;
    if role == "host" {
        let reply = result.unwrap_or_else(|e| panic!("{what} failed: {e}"));
        assert_eq!(reply["ok"], true, "{what}");
        if let Some(results) = reply["results"].as_object() {
            assert!(results.values().all(|r| r["ok"] == true), "{what}: {reply}");
        }
        if let Some(kind) = control.target_event() {
            expect(&target, kind).await;
        }
        if control.changes_snapshot() {
            assert_ne!(
                snapshot(&api, &room).await,
                before,
                "{what} changed nothing"
            );
        }
    } else {
        assert_eq!(ws_code(result), "permission_denied", "{what}");
        for c in [&target, &watcher, &actor] {
            assert_nothing(c, &format!("a refused {what}")).await;
        }
        assert_eq!(snapshot(&api, &room).await, before, "a refused {what}");
    }
    ts.admin().delete_room(&room).await.unwrap();
}

const ROLES: [&str; 4] = ["host", "participant", "viewer", "observer"];

async fn row(control: Control) {
    let ts = TestServer::start().await;
    for role in ROLES {
        cell(&ts, control, role).await;
    }
    ts.stop().await;
}

macro_rules! matrix {
    ($($name:ident => $control:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                row(Control::$control).await;
            }
        )*
    };
}

matrix! {
    matrix_mute => Mute,
    matrix_remote_unmute => RemoteUnmute,
    matrix_request_media => RequestMedia,
    matrix_mute_all => MuteAll,
    matrix_batch_update => BatchUpdate,
    matrix_kick => Kick,
    matrix_kick_with_ban => KickBan,
    matrix_end_session => EndSession,
    matrix_pin => Pin,
    matrix_unpin => Unpin,
    matrix_update_participant => UpdateParticipant,
    matrix_move => Move,
    matrix_lift_ban => LiftBan,
}

fn grant_token(
    room: &str,
    identity: &str,
    f: impl FnOnce(&mut gavel_client::core::VideoGrant),
) -> String {
    AccessToken::new(KEY, SECRET)
        .join(room, identity)
        .name(identity)
        .grant(f)
        .to_jwt()
}

async fn connect(ts: &TestServer, token: &str) -> RtcClient {
    RtcClient::connect(&ts.ws, token)
        .await
        .unwrap_or_else(|e| panic!("join refused: {e}"))
}

fn tracks(p: &Value) -> Vec<String> {
    p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap().to_string())
        .collect()
}

/// `canPublish: false` and `canPublishSources` narrow the participant role.
#[tokio::test]
async fn grant_fields_narrow_publishing() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let watcher = ts.join("narrow", "watcher", "participant").await;

    let mute = connect(
        &ts,
        &grant_token("narrow", "mute", |g| g.can_publish = Some(false)),
    )
    .await;
    assert_eq!(mute.state().me.unwrap().permissions.can_send.len(), 0);
    settle(&watcher).await;
    for source in ["microphone", "camera", "screen_video"] {
        assert_eq!(
            ws_code(mute.publish(source).await.map(Value::from)),
            "permission_denied",
            "canPublish:false publishing {source}"
        );
    }
    assert_nothing(&watcher, "refused publishes").await;
    assert!(tracks(&api_participant(&api, "narrow", "mute").await).is_empty());

    let mic = connect(
        &ts,
        &grant_token("narrow", "mic", |g| {
            g.can_publish_sources = Some(vec!["microphone".into()])
        }),
    )
    .await;
    settle(&watcher).await;
    assert_eq!(
        ws_code(mic.publish("camera").await.map(Value::from)),
        "permission_denied"
    );
    assert_eq!(
        ws_code(mic.publish("screen_video").await.map(Value::from)),
        "permission_denied"
    );
    assert_nothing(&watcher, "refused publishes").await;
    mic.publish("microphone").await.unwrap();
    expect(&watcher, "track_published").await;
    assert_eq!(
        tracks(&api_participant(&api, "narrow", "mic").await),
        ["microphone"]
    );
    // The role it narrows is unchanged otherwise: still a participant without host controls.
    let p = api_participant(&api, "narrow", "mic").await;
    assert_eq!(p["role"], "participant");
    assert_eq!(p["permissions"]["host"], json!([]));
    ts.stop().await;
}

/// `hidden: true` in the grant: nobody else sees the participant, its tracks or its leaving;
/// the server API does.
#[tokio::test]
async fn hidden_grant_makes_the_participant_invisible() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let watcher = ts.join("hide", "watcher", "participant").await;
    let ghost = connect(
        &ts,
        &grant_token("hide", "ghost", |g| g.hidden = Some(true)),
    )
    .await;
    let me = ghost.state().me.unwrap();
    assert!(me.permissions.hidden);
    assert_eq!(me.role, "participant");
    // The hidden one sees the others.
    assert!(ghost.state().participants.contains_key("watcher"));

    ghost.publish("microphone").await.unwrap();
    let seen = settle(&watcher).await;
    for m in &seen {
        match m {
            Message::Event { event, .. } => {
                let text = serde_json::to_string(event).unwrap();
                assert!(!text.contains("ghost"), "watcher saw {text}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let state = watcher.state();
    assert!(!state.participants.contains_key("ghost"));
    assert_eq!((state.counts.present, state.counts.hidden), (1, 1));
    // A later joiner's snapshot leaves it out too.
    let late = ts.join("hide", "late", "participant").await;
    assert!(!late.state().participants.contains_key("ghost"));
    // Acting on it from a client is as if it were not there.
    let host = ts.join("hide", "host", "host").await;
    assert_eq!(
        ws_code(
            host.request(json!({"type": "mute", "identity": "ghost", "source": "microphone"}))
                .await
        ),
        "not_found"
    );
    // Nor does a mute-all's count give it away (it used to say `changed: 1`)…
    let r = host
        .request(json!({"type": "mute_all", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 0, "{r}");
    // …though its microphone was muted like everyone's (the server API sees that).
    let p = api_participant(&api, "hide", "ghost").await;
    assert_eq!(p["tracks"][0]["muted"], true, "{p}");
    // The server API sees it.
    let p = api_participant(&api, "hide", "ghost").await;
    assert_eq!(p["permissions"]["hidden"], true);
    assert_eq!(tracks(&p), ["microphone"]);

    settle(&watcher).await;
    ghost.close().await;
    assert!(ghost.wait_closed(WAIT).await.is_some());
    // Its leaving shows only in the counts.
    loop {
        match watcher.wait_type("counts_updated", WAIT).await {
            Ok(gavel_client::core::Event::CountsUpdated { hidden: 0, .. }) => break,
            Ok(_) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    let seen = settle(&watcher).await;
    assert!(
        seen.iter().all(|m| !format!("{m:?}").contains("ghost")),
        "{seen:?}"
    );
    ts.stop().await;
}

fn api_with(ts: &TestServer, f: impl FnOnce(&mut gavel_client::core::VideoGrant)) -> ApiClient {
    let token = AccessToken::new(KEY, SECRET)
        .identity("backend")
        .grant(f)
        .to_jwt();
    ApiClient::new(&ts.http, &token)
}

/// Server-API grants: `roomAdmin` (for that room), `roomCreate`, `roomList`; bad tokens are 401.
#[tokio::test]
async fn server_api_grants() {
    let ts = TestServer::start().await;
    let admin = ts.admin();
    admin.create_room("a", json!({})).await.unwrap();
    admin.create_room("b", json!({})).await.unwrap();
    let guest = ts.join("a", "guest", "participant").await;
    guest.publish("microphone").await.unwrap();
    settle(&guest).await;
    let before = admin.list_participants("a").await.unwrap();

    // A join token (no roomAdmin) and a roomAdmin token for room b.
    let joiner = ApiClient::new(&ts.http, &ts.token("a", "guest", "host"));
    let admin_b = api_with(&ts, |g| {
        g.room_admin = Some(true);
        g.room = Some("b".into());
    });
    for (who, api) in [("no roomAdmin", &joiner), ("roomAdmin of b", &admin_b)] {
        assert_eq!(
            api_code(api.list_participants("a").await),
            ("permission_denied", 403),
            "{who}"
        );
        assert_eq!(
            api_code(api.mute("a", "guest", "microphone", true).await),
            ("permission_denied", 403),
            "{who}"
        );
        assert_eq!(
            api_code(api.remove("a", "guest", Some(60)).await),
            ("permission_denied", 403),
            "{who}"
        );
        assert_eq!(
            api_code(api.end_session("a").await),
            ("permission_denied", 403),
            "{who}"
        );
        assert_eq!(
            api_code(api.get_room("a").await),
            ("permission_denied", 403),
            "{who}"
        );
    }
    assert_nothing(&guest, "refused server-API calls").await;
    assert_eq!(admin.list_participants("a").await.unwrap(), before);
    assert_eq!(admin.list_bans("a").await.unwrap()["bans"], json!([]));
    // The same room-scoped token works on its own room.
    admin_b.list_participants("b").await.unwrap();

    // Missing, garbage, and wrong-secret tokens.
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/v1/rooms/a/participants", ts.http))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    for token in ["garbage", "a.b.c", ""] {
        let api = ApiClient::new(&ts.http, token);
        assert_eq!(
            api_code(api.list_participants("a").await),
            ("unauthenticated", 401),
            "token {token:?}"
        );
    }
    let forged = AccessToken::new(KEY, "not-the-secret").admin(None).to_jwt();
    assert_eq!(
        api_code(ApiClient::new(&ts.http, &forged).list_rooms().await),
        ("unauthenticated", 401)
    );

    // roomCreate and roomList.
    let no_create = api_with(&ts, |g| {
        g.room_admin = Some(true);
        g.room_list = Some(true);
    });
    assert_eq!(
        api_code(no_create.create_room("c", json!({})).await),
        ("permission_denied", 403)
    );
    assert_eq!(
        api_code(no_create.delete_room("b").await),
        ("permission_denied", 403)
    );
    let no_list = api_with(&ts, |g| {
        g.room_admin = Some(true);
        g.room_create = Some(true);
    });
    assert_eq!(
        api_code(no_list.list_rooms().await),
        ("permission_denied", 403)
    );
    let names: Vec<Value> = admin.list_rooms().await.unwrap()["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, [json!("a"), json!("b")]);
    // With the grants, the same calls work.
    no_list.create_room("c", json!({})).await.unwrap();
    no_create.list_rooms().await.unwrap();
    ts.stop().await;
}

/// A co-host given only `manage_participants` cannot hand out controls it lacks, directly, by
/// role, or in a batch; what it holds it may pass on.
#[tokio::test]
async fn nobody_grants_a_host_control_it_does_not_hold() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let cohost = ts.join("grant", "cohost", "participant").await;
    let target = ts.join("grant", "target", "participant").await;
    api.update_participant(
        "grant",
        "cohost",
        json!({"permissions": {"host": ["manage_participants"]}}),
    )
    .await
    .unwrap();
    expect(&cohost, "permissions_changed").await;
    for c in [&cohost, &target] {
        settle(c).await;
    }
    let before = api.list_participants("grant").await.unwrap();

    let attempts = [
        json!({"type": "update_participant", "identity": "target",
               "permissions": {"host": ["kick"]}}),
        json!({"type": "update_participant", "identity": "target",
               "permissions": {"host": ["manage_participants", "mute_audio"]}}),
        json!({"type": "update_participant", "identity": "target", "role": "host"}),
        json!({"type": "update_participant", "identity": "cohost",
               "permissions": {"host": ["manage_participants", "end_session"]}}),
    ];
    for a in attempts {
        assert_eq!(
            ws_code(cohost.request(a.clone()).await),
            "permission_denied",
            "{a}"
        );
    }
    // In a batch the entry is refused on its own (the batch as a whole is allowed: it needs
    // manage_participants, which the co-host holds).
    let r = cohost
        .request(json!({"type": "batch_update",
                        "updates": {"target": {"permissions": {"host": ["kick"]}}}}))
        .await
        .unwrap();
    assert_eq!(r["results"]["target"]["ok"], false, "{r}");
    assert_eq!(
        r["results"]["target"]["error"]["code"], "permission_denied",
        "{r}"
    );
    for c in [&cohost, &target] {
        assert_nothing(c, "refused grants").await;
    }
    assert_eq!(api.list_participants("grant").await.unwrap(), before);

    // Handing out what it holds works.
    cohost
        .request(json!({"type": "update_participant", "identity": "target",
                        "permissions": {"host": ["manage_participants"]}}))
        .await
        .unwrap();
    expect(&target, "permissions_changed").await;
    assert_eq!(
        api_participant(&api, "grant", "target").await["permissions"]["host"],
        json!(["manage_participants"])
    );
    // And it still cannot use the controls it lacks.
    assert_eq!(
        ws_code(
            cohost
                .request(json!({"type": "kick", "identity": "target"}))
                .await
        ),
        "permission_denied"
    );
    ts.stop().await;
}
