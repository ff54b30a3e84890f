//! The web console: plain HTML, CSS and JavaScript modules from `crates/gavel-server/console/`,
//! compiled into the binary and served at `/` (no build step, no separate web server).
//!
//! The console is a client like any other: it joins over `/v1/rtc` with a token and calls the
//! server API with the same token, so it can do nothing its token does not allow.

use crate::http::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $path)),
        }
    };
    // A module of the JavaScript SDK (sdks/js), served where the console imports it: one
    // implementation of the connection and the room state for the console and every app.
    (sdk $file:literal) => {
        Asset {
            path: concat!("js/", $file),
            content_type: JS,
            body: include_bytes!(concat!("../../../sdks/js/src/", $file)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!(sdk "connection.js"),
    asset!(sdk "room-state.js"),
    asset!("js/tiles.js", JS),
    asset!("js/host-panel.js", JS),
    asset!("js/local-media.js", JS),
    asset!(sdk "media-session.js"),
    // The rest of the SDK, for applications served by this server (and the SDK's browser test).
    asset!(sdk "emitter.js"),
    asset!(sdk "meeting.js"),
    asset!(sdk "index.js"),
    asset!("js/consent.js", JS),
    asset!("js/screens.js", JS),
    asset!("js/audit.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/waiting.js", JS),
    asset!("js/breakouts.js", JS),
];

/// Only what the console needs: its own files, its own server's API and WebSocket, local media.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; media-src 'self' blob: mediastream:; style-src 'self'; \
     script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>| async move { serve(&path) }),
        )
}

fn serve(path: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The files change with the binary; revalidating is cheap and never serves a stale console.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
