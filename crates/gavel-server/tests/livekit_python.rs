//! Seed 002 through LiveKit's own Python server SDK (PyPI `livekit-api`, in the project's
//! `.venv`): tests/python/test_livekit_api.py against this live server.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_python_sdk_runs_seed_002() {
    let ts = TestServer::start().await;
    external::pytest("test_livekit_api.py", &ts.http, &ts.ws).await;
    ts.stop().await;
}
