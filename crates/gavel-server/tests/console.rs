//! The web console's server side over real HTTP: its files come from the binary with the right
//! types and a strict content security policy, and the development token endpoint exists only in
//! development mode, refuses bad input, and mints tokens that join.

mod common;
use common::*;
use gavel_server::config::Config;
use gavel_server::Server;
use serde_json::{json, Value};

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("GET")
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let ts = TestServer::start().await;
    let index = get(&format!("{}/", ts.http)).await;
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    let html = index.text().await.unwrap();
    assert!(html.contains(r#"src="/console/js/main.js""#));

    // Every file the page loads is there, with its type.
    for (path, kind) in [
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
        ("js/main.js", "text/javascript"),
        ("js/room-state.js", "text/javascript"),
        ("js/tiles.js", "text/javascript"),
    ] {
        let res = get(&format!("{}/console/{path}", ts.http)).await;
        assert_eq!(res.status(), 200, "{path}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
    }
    // Every module main.js imports is served (a missing one would break the page).
    let main = get(&format!("{}/console/js/main.js", ts.http))
        .await
        .text()
        .await
        .unwrap();
    for line in main.lines().filter(|l| l.starts_with("import ")) {
        let module = line.split('"').nth(1).unwrap().trim_start_matches("./");
        let res = get(&format!("{}/console/js/{module}", ts.http)).await;
        assert_eq!(res.status(), 200, "{module}");
    }
    for missing in ["/console/nope.js", "/console/../Cargo.toml", "/console/js/"] {
        assert_eq!(
            get(&format!("{}{missing}", ts.http)).await.status(),
            404,
            "{missing}"
        );
    }
    ts.stop().await;
}

#[tokio::test]
async fn development_tokens_join_as_the_chosen_role() {
    let ts = TestServer::start().await;
    let dev = get(&format!("{}/dev", ts.http)).await;
    assert_eq!(dev.status(), 200);
    assert_eq!(
        dev.json::<Value>().await.unwrap()["roles"],
        json!(["host", "participant", "viewer"])
    );
    let url = format!("{}/dev/token", ts.http);
    let (status, body) = post(
        &url,
        json!({"room": "devroom", "name": "Ann Lee", "role": "host"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["identity"], "Ann Lee");
    let ann = gavel_client::RtcClient::connect(&ts.ws, body["token"].as_str().unwrap())
        .await
        .expect("a development token joins");
    let state = ann.state();
    assert_eq!(state.me.as_ref().unwrap().role, "host");
    assert_eq!(state.room, "devroom");

    // Bad input is refused with a stable code and creates nothing.
    for bad in [
        json!({"room": "devroom", "name": "x", "role": "admin"}),
        json!({"room": "bad room!", "name": "x", "role": "viewer"}),
        json!({"room": "devroom", "name": "", "role": "viewer"}),
        json!({"room": "devroom", "name": "x\u{7}", "role": "viewer"}),
        json!({"room": "devroom", "role": "viewer"}),
        json!({"room": "devroom", "name": 7, "role": "viewer"}),
        json!({"room": "devroom", "name": "x", "role": "viewer", "admin": true}),
    ] {
        let (status, body) = post(&url, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_argument", "{bad}");
    }
    let rooms = ts.admin().list_rooms().await.unwrap();
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1, "{rooms}");
    ts.stop().await;
}

#[tokio::test]
async fn outside_development_mode_there_is_no_token_endpoint() {
    let mut config = Config::dev("127.0.0.1:0".parse().unwrap());
    config.dev = false;
    config.keys = [("prodkey".to_string(), "s".repeat(40))].into();
    let server = Server::start(config).await.unwrap();
    let http = format!("http://{}", server.addr);
    let (status, body) = post(
        &format!("{http}/dev/token"),
        json!({"room": "demo", "name": "mallory", "role": "host"}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(get(&format!("{http}/dev")).await.status(), 404);
    // The console itself is there (it then asks for a pasted token).
    assert_eq!(get(&format!("{http}/")).await.status(), 200);
    server.shutdown(std::time::Duration::from_secs(5)).await;
}
