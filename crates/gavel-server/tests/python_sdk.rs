//! Gavel's Python SDK (`sdks/python`, installed into the project's `.venv` by scripts/test-env):
//! seeds 000 and 001's examples and the rest of what it covers against this live server
//! (tests/python/test_python_sdk.py), and the package kept `ruff` and `mypy --strict` clean.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_runs_seeds_000_and_001_against_a_live_server() {
    let ts = TestServer::start().await;
    external::pytest("test_python_sdk.py", &ts.http, &ts.ws).await;
    ts.stop().await;
}

#[tokio::test]
async fn python_sdk_is_lint_and_type_clean() {
    let root = external::workspace_root();
    let bin = root.join(".venv/bin");
    let sdk = root.join("sdks/python").display().to_string();
    // No caches left in the working tree.
    let checks: [(&str, Vec<&str>); 3] = [
        ("ruff", vec!["check", "--no-cache", &sdk]),
        ("ruff", vec!["format", "--check", "--no-cache", &sdk]),
        (
            "mypy",
            vec![
                "--cache-dir=/dev/null",
                "--config-file",
                "sdks/python/pyproject.toml",
                "sdks/python/gavel",
                "sdks/python/examples",
            ],
        ),
    ];
    for (tool, args) in checks {
        let args = args.into_iter().map(String::from).collect();
        external::run_checked(bin.join(tool), args, vec![]).await;
    }
}
