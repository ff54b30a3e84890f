//! The Chime SDK Meetings front-end over real HTTP: AWS Signature Version 4 edge cases (stale
//! and future dates, wrong secret, tampered body, query and path, missing or malformed
//! authorization, wrong service), bad input of every kind (each refused with its modeled
//! exception and changing nothing), and durability of meetings, attendees, capabilities and
//! voided join tokens across `kill -9`.

mod common;
use common::chime::*;
use common::process::*;
use common::*;
use gavel_client::RtcClient;
use serde_json::{json, Value};
use std::time::SystemTime;

fn chime(ts: &TestServer) -> ChimeHttp {
    ChimeHttp::new(&ts.http, KEY, SECRET)
}

/// Rooms the native API lists (to check that refused calls created nothing).
async fn room_names(ts: &TestServer) -> Vec<Value> {
    let rooms = ts.admin().list_rooms().await.unwrap()["rooms"].clone();
    rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect()
}

fn create_body(token: &str) -> Vec<u8> {
    json!({"ClientRequestToken": token, "MediaRegion": "us-east-1", "ExternalMeetingId": "sig"})
        .to_string()
        .into_bytes()
}

#[test]
fn signer_dates() {
    use std::time::{Duration, UNIX_EPOCH};
    assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
    assert_eq!(
        amz_date(UNIX_EPOCH + Duration::from_secs(1_440_938_160)),
        "20150830T123600Z"
    );
}

#[tokio::test]
async fn signatures_are_verified() {
    let ts = TestServer::start().await;
    let c = chime(&ts);
    let before = room_names(&ts).await;

    // A correct signature, with any region in its scope.
    let mut other_region = ChimeHttp::new(&ts.http, KEY, SECRET);
    other_region.signer.region = "eu-central-1".into();
    let ok = other_region
        .signed(
            "POST",
            "/meetings",
            "",
            create_body("good"),
            SystemTime::now(),
        )
        .await;
    let meeting = ok.expect_ok()["Meeting"]["MeetingId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ok.request_id.is_some());
    let before = [before, vec![json!(meeting)]].concat();

    // Stale or future beyond 15 minutes: ForbiddenException.
    for at in [minutes_ago(20), minutes_ahead(20)] {
        c.signed("POST", "/meetings", "", create_body("stale"), at)
            .await
            .expect_error(403, "ForbiddenException");
    }
    // Within the allowed skew: fine.
    c.signed(
        "GET",
        &format!("/meetings/{meeting}"),
        "",
        vec![],
        minutes_ago(10),
    )
    .await
    .expect_ok();

    // The wrong secret.
    ChimeHttp::new(&ts.http, KEY, "not-the-secret")
        .signed(
            "POST",
            "/meetings",
            "",
            create_body("wrong"),
            SystemTime::now(),
        )
        .await
        .expect_error(403, "ForbiddenException");
    // An unknown access key.
    ChimeHttp::new(&ts.http, "nobody", SECRET)
        .signed(
            "POST",
            "/meetings",
            "",
            create_body("who"),
            SystemTime::now(),
        )
        .await
        .expect_error(401, "UnauthorizedException");
    // Another service's scope.
    let mut iam = ChimeHttp::new(&ts.http, KEY, SECRET);
    iam.signer.service = "iam".into();
    iam.signed(
        "POST",
        "/meetings",
        "",
        create_body("iam"),
        SystemTime::now(),
    )
    .await
    .expect_error(403, "ForbiddenException");

    // A body other than the one signed.
    let headers = c.signer.sign(
        "POST",
        &c.host,
        "/meetings",
        "",
        &create_body("signed"),
        SystemTime::now(),
    );
    c.send("POST", "/meetings", "", headers, create_body("tampered"))
        .await
        .expect_error(403, "ForbiddenException");
    // A query or a path other than the one signed.
    let path = format!("/meetings/{meeting}/attendees");
    let headers = c.signer.sign(
        "GET",
        &c.host,
        &path,
        "max-results=1",
        b"",
        SystemTime::now(),
    );
    c.send("GET", &path, "max-results=2", headers.clone(), vec![])
        .await
        .expect_error(403, "ForbiddenException");
    c.send("GET", "/meetings", "max-results=1", headers, vec![])
        .await
        .expect_error(403, "ForbiddenException");

    // No signature at all, or a malformed one.
    c.send("POST", "/meetings", "", vec![], create_body("anon"))
        .await
        .expect_error(401, "UnauthorizedException");
    for auth in [
        "Bearer abc",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=devkey/20250101/us-east-1/chime, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=devkey/x/y/chime/aws4_request, Bogus=1",
        "AWS4-HMAC-SHA256 Credential=devkey/x/y/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=zz",
    ] {
        let mut headers = c.signer.sign(
            "POST",
            &c.host,
            "/meetings",
            "",
            &create_body("m"),
            SystemTime::now(),
        );
        headers.retain(|(k, _)| k != "authorization");
        headers.push(("authorization".into(), auth.into()));
        let r = c.send("POST", "/meetings", "", headers, create_body("m")).await;
        assert!(
            r.status == 401 || r.status == 403,
            "{auth}: {r:?}"
        );
        assert!(r.body["Message"].as_str().is_some(), "{auth}");
    }
    // Without X-Amz-Date.
    let mut headers = c.signer.sign(
        "POST",
        &c.host,
        "/meetings",
        "",
        &create_body("d"),
        SystemTime::now(),
    );
    headers.retain(|(k, _)| k != "x-amz-date");
    c.send("POST", "/meetings", "", headers, create_body("d"))
        .await
        .expect_error(403, "ForbiddenException");
    // A checksum header that does not match the body.
    let mut headers = c.signer.sign(
        "POST",
        &c.host,
        "/meetings",
        "",
        &create_body("h"),
        SystemTime::now(),
    );
    headers.push(("x-amz-content-sha256".into(), "00".repeat(32)));
    c.send("POST", "/meetings", "", headers, create_body("h"))
        .await
        .expect_error(403, "ForbiddenException");

    assert_eq!(
        room_names(&ts).await,
        before,
        "refused calls created nothing"
    );
    ts.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let ts = TestServer::start().await;
    let c = chime(&ts);
    let meeting = c.create_meeting(json!({"Attendee": {"MaxCount": 3}})).await;
    let m = meeting["MeetingId"].as_str().unwrap().to_string();
    let attendee = c
        .call(
            "POST",
            &format!("/meetings/{m}/attendees"),
            "",
            json!({"ExternalUserId": "first"}),
        )
        .await;
    let a = attendee.expect_ok()["Attendee"]["AttendeeId"]
        .as_str()
        .unwrap()
        .to_string();
    let rooms = room_names(&ts).await;
    let attendees = || async {
        c.call("GET", &format!("/meetings/{m}/attendees"), "", Value::Null)
            .await
            .expect_ok()
            .clone()
    };
    let listed = attendees().await;

    let bad_bodies: Vec<(&str, String, &str, &[u8])> = vec![
        ("POST", "/meetings".into(), "", b"{not json"),
        ("POST", "/meetings".into(), "", b"[1, 2]"),
        ("POST", "/meetings".into(), "", br#"{"ClientRequestToken": 5}"#),
        ("POST", "/meetings".into(), "", br#"{"MediaRegion": "us-east-1", "ExternalMeetingId": "x1"}"#),
        ("POST", "/meetings".into(), "", br#"{"ClientRequestToken": "abc", "ExternalMeetingId": "x1"}"#),
        ("POST", "/meetings".into(), "", br#"{"ClientRequestToken": "abc", "MediaRegion": "us-east-1", "ExternalMeetingId": "x1", "MeetingFeatures": {"Video": {"MaxResolution": "8K"}}}"#),
        ("POST", "/meetings".into(), "operation=create-attendees", br#"{"ClientRequestToken": "abc", "MediaRegion": "us-east-1", "ExternalMeetingId": "x1", "Attendees": []}"#),
        ("POST", "/meetings".into(), "operation=create-attendees", br#"{"ClientRequestToken": "abc", "MediaRegion": "us-east-1", "ExternalMeetingId": "x1"}"#),
        ("POST", format!("/meetings/{m}/attendees"), "", br#"{}"#),
        ("POST", format!("/meetings/{m}/attendees"), "", br#"{"ExternalUserId": ["a"]}"#),
        ("POST", format!("/meetings/{m}/attendees"), "", br#"{"ExternalUserId": "aws:me"}"#),
        ("POST", format!("/meetings/{m}/attendees"), "", br#"{"ExternalUserId": "okay", "Capabilities": {"Audio": "SendReceive"}}"#),
        ("POST", format!("/meetings/{m}/attendees"), "operation=batch-create", br#"{"Attendees": []}"#),
        ("POST", format!("/meetings/{m}/attendees"), "operation=batch-create", br#"{"Attendees": "x"}"#),
        ("PUT", format!("/meetings/{m}/attendees/{a}/capabilities"), "", br#"{}"#),
        ("PUT", format!("/meetings/{m}/attendees/{a}/capabilities"), "", br#"{"Capabilities": {"Audio": "Shout", "Video": "None", "Content": "None"}}"#),
        ("PUT", format!("/meetings/{m}/attendees/{a}/capabilities"), "", br#"{"Capabilities": {"Audio": "None", "Video": "Send", "Content": "Receive"}}"#),
        ("PUT", format!("/meetings/{m}/attendees/capabilities"), "operation=batch-update-except", br#"{"Capabilities": {"Audio": "None", "Video": "None", "Content": "None"}}"#),
        ("PUT", format!("/meetings/{m}/attendees/capabilities"), "operation=batch-update-except", br#"{"ExcludedAttendeeIds": [{}], "Capabilities": {"Audio": "None", "Video": "None", "Content": "None"}}"#),
        ("GET", format!("/meetings/{m}/attendees"), "max-results=0", b""),
        ("GET", format!("/meetings/{m}/attendees"), "max-results=abc", b""),
        ("GET", format!("/meetings/{m}/attendees"), "next-token=-5", b""),
        ("GET", "/meetings/not-a-guid".into(), "", b""),
        ("GET", format!("/meetings/{m}/attendees/{a}x"), "", b""),
        ("POST", format!("/meetings/{m}/transcription"), "operation=start", b"{}"),
        ("GET", "/tags".into(), "ResourceARN=x", b""),
    ];
    for (method, path, query, body) in bad_bodies {
        let r = c
            .signed(method, &path, query, body.to_vec(), SystemTime::now())
            .await;
        r.expect_error(400, "BadRequestException");
        assert!(
            r.body["Message"].as_str().unwrap().len() > 5,
            "{method} {path}?{query}: a clear message: {r:?}"
        );
    }
    // A body over the limit.
    c.signed(
        "POST",
        "/meetings",
        "",
        vec![b' '; 300 * 1024],
        SystemTime::now(),
    )
    .await
    .expect_error(400, "BadRequestException");

    // Unknown meetings, attendees and operations.
    let nobody = "00000000-0000-4000-8000-000000000000";
    for (method, path, query) in [
        ("GET", format!("/meetings/{nobody}"), ""),
        ("DELETE", format!("/meetings/{nobody}"), ""),
        ("GET", format!("/meetings/{m}/attendees/{nobody}"), ""),
        ("DELETE", format!("/meetings/{m}/attendees/{nobody}"), ""),
        ("PATCH", "/meetings".to_string(), ""),
        ("POST", "/meetings".to_string(), "operation=explode"),
        ("GET", format!("/meetings/{m}/elsewhere"), ""),
    ] {
        c.signed(method, &path, query, vec![], SystemTime::now())
            .await
            .expect_error(404, "NotFoundException");
    }
    // The meeting's attendee limit (3): a batch fills it, the rest are per-item errors.
    let r = c
        .call(
            "POST",
            &format!("/meetings/{m}/attendees"),
            "operation=batch-create",
            json!({"Attendees": [
                {"ExternalUserId": "second"}, {"ExternalUserId": "third"},
                {"ExternalUserId": "fourth"}, {"ExternalUserId": "aws:x"}]}),
        )
        .await;
    let body = r.expect_ok();
    assert_eq!(body["Attendees"].as_array().unwrap().len(), 2);
    let codes: Vec<&str> = body["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ErrorCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["ResourceLimitExceeded", "BadRequest"]);
    c.call(
        "POST",
        &format!("/meetings/{m}/attendees"),
        "",
        json!({"ExternalUserId": "fifth"}),
    )
    .await
    .expect_error(400, "LimitExceededException");

    assert_eq!(room_names(&ts).await, rooms);
    let now = attendees().await;
    assert_eq!(now["Attendees"].as_array().unwrap().len(), 3);
    assert_eq!(now["Attendees"][0], listed["Attendees"][0], "unchanged");
    ts.stop().await;
}

const SECRET32: &str = "0123456789abcdef0123456789abcdef";

fn start(data: &std::path::Path, port: u16) -> Proc {
    serve(data, port, "prod", SECRET32)
}

/// What a restart must keep: meetings (with features), attendees (ids, external ids, join
/// tokens, capabilities), deleted attendees' and meetings' tokens staying void.
#[tokio::test]
async fn meetings_and_attendees_survive_kill_9() {
    let data = temp_dir("chime-restart");
    let port = free_port();
    let http = format!("http://127.0.0.1:{port}");
    let ws = format!("ws://127.0.0.1:{port}");
    let c = ChimeHttp::new(&http, "prod", SECRET32);

    let mut first = start(&data, port);
    let meeting = c
        .create_meeting(json!({"Content": {"MaxResolution": "None"}}))
        .await;
    let m = meeting["MeetingId"].as_str().unwrap().to_string();
    let attendee = |external: &str, caps: Value| {
        let body = json!({"ExternalUserId": external, "Capabilities": caps});
        let (c, path) = (&c, format!("/meetings/{m}/attendees"));
        async move { c.call("POST", &path, "", body).await.expect_ok()["Attendee"].clone() }
    };
    let kept = attendee(
        "kept",
        json!({"Audio": "SendReceive", "Video": "Receive", "Content": "None"}),
    )
    .await;
    let gone = attendee(
        "gone",
        json!({"Audio": "SendReceive", "Video": "SendReceive", "Content": "None"}),
    )
    .await;
    let kept_id = kept["AttendeeId"].as_str().unwrap().to_string();
    let gone_id = gone["AttendeeId"].as_str().unwrap();
    c.call(
        "DELETE",
        &format!("/meetings/{m}/attendees/{gone_id}"),
        "",
        Value::Null,
    )
    .await
    .expect_ok();
    // Raised after creation: the update must be what survives.
    let updated = c
        .call(
            "PUT",
            &format!("/meetings/{m}/attendees/{kept_id}/capabilities"),
            "",
            json!({"Capabilities": {"Audio": "Receive", "Video": "Receive", "Content": "None"}}),
        )
        .await;
    let kept = updated.expect_ok()["Attendee"].clone();
    let ended = c.create_meeting(json!({})).await;
    let ended_id = ended["MeetingId"].as_str().unwrap();
    let ended_attendee = c
        .call(
            "POST",
            &format!("/meetings/{ended_id}/attendees"),
            "",
            json!({"ExternalUserId": "late"}),
        )
        .await
        .expect_ok()["Attendee"]
        .clone();
    c.call("DELETE", &format!("/meetings/{ended_id}"), "", Value::Null)
        .await
        .expect_ok();
    // Acknowledged means committed: no pause before the kill.
    first.kill9();

    let _second = start(&data, port);
    // A fresh client: the old one's pooled connections died with the first process.
    let c = ChimeHttp::new(&http, "prod", SECRET32);
    let got = c
        .call("GET", &format!("/meetings/{m}"), "", Value::Null)
        .await;
    let mut expected = meeting.clone();
    expected["MediaPlacement"] = got.body["Meeting"]["MediaPlacement"].clone();
    assert_eq!(got.expect_ok()["Meeting"], expected);
    let listed = c
        .call("GET", &format!("/meetings/{m}/attendees"), "", Value::Null)
        .await;
    assert_eq!(listed.expect_ok()["Attendees"], json!([kept.clone()]));
    c.call(
        "GET",
        &format!("/meetings/{m}/attendees/{gone_id}"),
        "",
        Value::Null,
    )
    .await
    .expect_error(404, "NotFoundException");
    c.call("GET", &format!("/meetings/{ended_id}"), "", Value::Null)
        .await
        .expect_error(404, "NotFoundException");

    // The kept attendee joins with its token and the capabilities set before the restart.
    let token = kept["JoinToken"].as_str().unwrap();
    let client = RtcClient::connect(&ws, token).await.unwrap();
    let me = client.state().me.expect("joined");
    assert_eq!(me.identity, kept_id);
    assert!(me.permissions.can_send.is_empty(), "{:?}", me.permissions);
    assert_eq!(me.permissions.can_receive.len(), 2, "microphone and camera");
    // Void tokens stay void.
    for token in [&gone["JoinToken"], &ended_attendee["JoinToken"]] {
        let e = RtcClient::connect(&ws, token.as_str().unwrap())
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains("unauthenticated"), "{e}");
    }
}
