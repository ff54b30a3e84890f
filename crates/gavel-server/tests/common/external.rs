//! Runs test programs written against real third-party clients (Python's `livekit-api` and
//! `boto3`, Playwright driving Chromium) against a live server. `scripts/test-env` prepares their
//! environments; a missing one fails the test with the command that prepares it.
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Runs `program args…` from the workspace root with `env`, failing the test (with the
/// program's output) unless it exits 0. Runs on a blocking thread so the in-process server keeps
/// serving.
pub async fn run_checked(program: PathBuf, args: Vec<String>, env: Vec<(String, String)>) {
    let root = workspace_root();
    assert!(
        program.exists(),
        "{} is missing: run ./scripts/test-env (./scripts/test does) first",
        program.display()
    );
    let shown = format!("{} {}", program.display(), args.join(" "));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&program)
            .args(&args)
            .envs(env)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .expect("spawn test program")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "`{shown}` failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// Runs one pytest file from `tests/python/` in the project's `.venv`, with the server's
/// addresses and API credentials in `GAVEL_HTTP`, `GAVEL_WS`, `GAVEL_KEY`, `GAVEL_SECRET`.
pub async fn pytest(file: &str, http: &str, ws: &str) {
    let python = workspace_root().join(".venv/bin/python");
    let env = vec![
        ("GAVEL_HTTP".into(), http.to_string()),
        ("GAVEL_WS".into(), ws.to_string()),
        ("GAVEL_KEY".into(), super::KEY.to_string()),
        ("GAVEL_SECRET".into(), super::SECRET.to_string()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
    ];
    let args = vec![
        "-m".into(),
        "pytest".into(),
        "-q".into(),
        "-p".into(),
        "no:cacheprovider".into(),
        format!("tests/python/{file}"),
    ];
    run_checked(python, args, env).await;
}

/// Runs the web console's browser tests (`node --test tests/browser/`: playwright-core driving
/// Debian's Chromium) against the real `gavel` binary in development mode. Chromium gathers no
/// ICE candidates on loopback alone, so each test file runs in a private network namespace
/// (`scripts/netns-run`) with the server bound to 10.77.0.1 inside it — the console's media then
/// really flows through the server. `GAVEL_SCREENSHOTS`, when set, is passed on: the tests then
/// save their screenshots there (scripts/screenshots refreshes docs/screenshots/).
pub async fn node_tests(dir: &str) {
    let node = find_on_path("node").expect("node is not on PATH (Node.js 20 or newer is needed)");
    let admin = gavel_client::AccessToken::new(super::KEY, super::SECRET)
        .admin(None)
        .to_jwt();
    let http = "http://10.77.0.1:7880";
    let mut env = vec![
        ("GAVEL_HTTP".into(), http.to_string()),
        ("GAVEL_ADMIN_TOKEN".into(), admin),
        ("SERVER_BIN".into(), super::process::BIN.to_string()),
        ("NODE".into(), node.display().to_string()),
        ("RUST_LOG".into(), "warn".to_string()),
    ];
    if let Ok(shots) = std::env::var("GAVEL_SCREENSHOTS") {
        let shots = workspace_root().join(shots);
        env.push(("GAVEL_SCREENSHOTS".into(), shots.display().to_string()));
    }
    assert!(
        workspace_root().join(dir).join("node_modules").exists(),
        "{dir}/node_modules is missing: run ./scripts/test-env (./scripts/test does) first"
    );
    // One test file at a time, in name order: each drives its own Chromium on a 2-core budget.
    let mut files: Vec<String> = std::fs::read_dir(workspace_root().join(dir))
        .expect("browser test folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.js"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.js in {dir}");
    for file in files {
        let data = super::process::temp_dir("browser-data");
        let mut env = env.clone();
        env.push(("GAVEL_DATA_DIR".into(), data.display().to_string()));
        // Inside the namespace: the server in the background, the tests once it answers, and
        // the server stopped whatever the tests' outcome.
        let script = format!(
            r#"set -u
# GAVEL_* variables meant for the tests are not configuration keys: keep them from the server.
env -u GAVEL_HTTP -u GAVEL_ADMIN_TOKEN -u GAVEL_SCREENSHOTS \
    "$SERVER_BIN" dev --bind 10.77.0.1:7880 >/dev/null 2>server.err.$$ &
server=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/10.77.0.1/7880) 2>/dev/null && break; sleep 0.1; done
timeout 600 "$NODE" --test {dir}/{file}
status=$?
kill $server; wait $server 2>/dev/null
if [ $status -ne 0 ]; then cat server.err.$$ >&2; fi
rm -f server.err.$$
exit $status"#
        );
        let program = workspace_root().join("scripts/netns-run");
        let args = vec!["bash".into(), "-c".into(), script];
        run_checked(program, args, env).await;
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
