//! A move touches two rooms and is authorized in both, through every API that can move (the
//! WebSocket, the native HTTP API, LiveKit's MoveParticipant):
//!
//! - a host whose token is for room A cannot move itself or anyone into an unrelated room B
//!   (it used to land in B as host and kick B's host);
//! - it may move people into A's child rooms, and into rooms its token names (`rooms`, or
//!   LiveKit's `destinationRoom`);
//! - a mover who may not grant more in the destination brings people in with its defaults;
//! - the destination's token revocations, and the bans of the destination's parent, apply.

mod common;
use common::*;
use gavel_client::core::Event;
use gavel_client::{AccessToken, ApiClient, RtcClient};
use serde_json::{json, Value};

/// Rooms `{p}-a` (with child `{p}-a-child`) and `{p}-b`, each created through the API, with a
/// host in a and in b.
struct Rooms {
    a: String,
    child: String,
    b: String,
}

async fn rooms(ts: &TestServer, p: &str) -> Rooms {
    let api = ts.admin();
    let r = Rooms {
        a: format!("{p}-a"),
        child: format!("{p}-a-child"),
        b: format!("{p}-b"),
    };
    api.create_room(&r.a, json!({})).await.unwrap();
    api.create_room(&r.b, json!({})).await.unwrap();
    api.create_room(&r.child, json!({ "parent": r.a }))
        .await
        .unwrap();
    r
}

fn token(
    room: &str,
    identity: &str,
    grant: impl FnOnce(&mut gavel_client::core::VideoGrant),
) -> String {
    AccessToken::new(KEY, SECRET)
        .join(room, identity)
        .name(identity)
        .grant(grant)
        .to_jwt()
}

async fn connect(ts: &TestServer, token: &str) -> RtcClient {
    let c = RtcClient::connect(&ts.ws, token).await.unwrap();
    settle(&c).await;
    c
}

async fn in_room(ts: &TestServer, room: &str, identity: &str) -> bool {
    api_identities(&ts.admin(), room)
        .await
        .contains(&identity.to_string())
}

fn mv(identity: &str, destination: &str) -> Value {
    json!({"type": "move", "identity": identity, "destination": destination})
}

#[tokio::test]
async fn a_host_cannot_move_itself_or_others_into_an_unrelated_room() {
    let ts = TestServer::start().await;
    let r = rooms(&ts, "esc").await;
    let host_a = connect(&ts, &token(&r.a, "mallory", |g| g.room_admin = Some(true))).await;
    let guest = ts.join(&r.a, "guest", "participant").await;
    let host_b = ts.join(&r.b, "boss", "host").await;
    settle(&guest).await;
    settle(&host_b).await;

    // Itself, then someone else: refused, nothing moves, room b hears nothing.
    for who in ["mallory", "guest"] {
        let refused = host_a.request(mv(who, &r.b)).await;
        assert_eq!(ws_code(refused), "permission_denied", "{who}");
    }
    assert!(in_room(&ts, &r.a, "mallory").await && in_room(&ts, &r.a, "guest").await);
    assert_eq!(api_identities(&ts.admin(), &r.b).await, ["boss"]);
    assert_nothing(&host_b, "room b").await;
    // And with the attack's follow-up: it never got there to kick b's host.
    assert!(in_room(&ts, &r.b, "boss").await);

    // Into a's child room: allowed; the guest keeps its role.
    host_a.request(mv("guest", &r.child)).await.unwrap();
    match expect(&guest, "joined").await {
        Event::Joined { room, me, .. } => {
            assert_eq!(room.name, r.child);
            assert_eq!(me.role, "participant");
        }
        other => panic!("{other:?}"),
    }
    // The host moves itself into the child and is still a host there.
    host_a.request(mv("mallory", &r.child)).await.unwrap();
    match expect(&host_a, "joined").await {
        Event::Joined { me, .. } => assert_eq!(me.role, "host"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rooms_a_token_names_and_grants_there() {
    let ts = TestServer::start().await;
    let r = rooms(&ts, "named").await;
    // An administrator of a whose token also names b.
    let admin = connect(
        &ts,
        &token(&r.a, "ann", |g| {
            g.room_admin = Some(true);
            g.rooms = Some(vec![r.b.clone()]);
        }),
    )
    .await;
    let guest = ts.join(&r.a, "guest", "participant").await;
    settle(&guest).await;
    admin.request(mv("guest", &r.b)).await.unwrap();
    expect(&guest, "moved").await;
    assert!(in_room(&ts, &r.b, "guest").await);

    // A host by role only (no roomAdmin) whose token names b through LiveKit's destinationRoom:
    // may move there, but not grant more than b's defaults: the host it moves arrives as a
    // participant (not refused).
    let mover = connect(
        &ts,
        &AccessToken::new(KEY, SECRET)
            .join(&r.a, "mo")
            .role("host")
            .grant(|g| g.destination_room = Some(r.b.clone()))
            .to_jwt(),
    )
    .await;
    let cohost = ts.join(&r.a, "cohost", "host").await;
    settle(&cohost).await;
    mover.request(mv("cohost", &r.b)).await.unwrap();
    match expect(&cohost, "joined").await {
        Event::Joined { me, .. } => {
            assert_eq!(me.role, "participant");
            assert!(me.permissions.host.is_empty(), "{:?}", me.permissions);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_destinations_revocations_and_inherited_bans_apply() {
    let ts = TestServer::start().await;
    let r = rooms(&ts, "rules").await;
    let api = ts.admin();
    let admin = connect(
        &ts,
        &token(&r.a, "ann", |g| {
            g.room_admin = Some(true);
            g.rooms = Some(vec![r.b.clone()]);
        }),
    )
    .await;
    let guest = ts.join(&r.a, "guest", "participant").await;
    settle(&guest).await;

    // The guest's tokens are revoked for b: it cannot be moved there either.
    api.call(
        "POST",
        &format!("/v1/rooms/{}/participants/guest/revoke-tokens", r.b),
        Some(json!({})),
    )
    .await
    .unwrap();
    assert_eq!(
        ws_code(admin.request(mv("guest", &r.b)).await),
        "unauthenticated"
    );
    assert!(in_room(&ts, &r.a, "guest").await);

    // Banned from a room's parent means banned from the room: no join, no move.
    let troll = ts.join(&r.a, "troll", "participant").await;
    settle(&troll).await;
    api.create_room("rules-other", json!({})).await.unwrap();
    api.move_participant(&r.a, "troll", "rules-other")
        .await
        .unwrap();
    api.remove(&r.a, "troll", Some(600)).await.unwrap();
    let refused = RtcClient::connect(&ts.ws, &ts.token(&r.child, "troll", "participant")).await;
    assert_eq!(refused.err().unwrap().code.as_str(), "banned");
    let r2 = api.move_participant("rules-other", "troll", &r.child).await;
    assert_eq!(api_code(r2), ("banned", 403));
}

#[tokio::test]
async fn http_and_twirp_moves_need_the_destination_too() {
    let ts = TestServer::start().await;
    let r = rooms(&ts, "api").await;
    let _guest = ts.join(&r.a, "guest", "participant").await;
    let scoped = AccessToken::new(KEY, SECRET).admin(Some(&r.a)).to_jwt();
    let api = ApiClient::new(&ts.http, &scoped);

    // Native HTTP: scoped to a, so b is out of reach; the child is not.
    assert_eq!(
        api_code(api.move_participant(&r.a, "guest", &r.b).await),
        ("permission_denied", 403)
    );
    assert!(in_room(&ts, &r.a, "guest").await);
    api.move_participant(&r.a, "guest", &r.child).await.unwrap();
    assert!(in_room(&ts, &r.child, "guest").await);

    // LiveKit's MoveParticipant, with LiveKit's refusal: 401 "permissions denied".
    let twirp = |body: Value| {
        let (http, token) = (ts.http.clone(), scoped.clone());
        async move {
            let resp = reqwest::Client::new()
                .post(format!("{http}/twirp/livekit.RoomService/MoveParticipant"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) =
        twirp(json!({"room": r.child, "identity": "guest", "destination_room": r.b})).await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (401, Some("permissions denied")),
        "{body}"
    );
    assert!(in_room(&ts, &r.child, "guest").await);
    // A token that names b too may.
    let wider = AccessToken::new(KEY, SECRET)
        .admin(Some(&r.a))
        .grant(|g| g.rooms = Some(vec![r.b.clone()]))
        .to_jwt();
    ApiClient::new(&ts.http, &wider)
        .move_participant(&r.child, "guest", &r.b)
        .await
        .unwrap();
    assert!(in_room(&ts, &r.b, "guest").await);
}

#[tokio::test]
async fn a_child_room_needs_an_existing_parent_it_administers() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("kids-a", json!({})).await.unwrap();
    api.create_room("kids-b", json!({})).await.unwrap();
    let child = |parent: &str| json!({ "parent": parent });
    // A parent that does not exist, or is no room name at all.
    assert_eq!(
        api_code(api.create_room("kids-x", child("nowhere")).await),
        ("not_found", 404)
    );
    assert_eq!(
        api_code(api.create_room("kids-x", child("bad/name")).await),
        ("invalid_argument", 400)
    );
    // A token scoped to kids-a may not hang a child under kids-b.
    let scoped = AccessToken::new(KEY, SECRET)
        .admin(Some("kids-a"))
        .grant(|g| g.room_create = Some(true))
        .to_jwt();
    let scoped = ApiClient::new(&ts.http, &scoped);
    assert_eq!(
        api_code(scoped.create_room("kids-x", child("kids-b")).await),
        ("permission_denied", 403)
    );
    // Nothing was created by the refusals.
    let rooms = api.list_rooms().await.unwrap();
    assert!(!rooms.to_string().contains("kids-x"), "{rooms}");
    // Under its own room it may, and then administers the child.
    scoped.create_room("kids-x", child("kids-a")).await.unwrap();
    scoped.get_room("kids-x").await.unwrap();
}
