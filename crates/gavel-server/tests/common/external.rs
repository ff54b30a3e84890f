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
    let modules = workspace_root().join(dir);
    assert!(
        modules.join("node_modules").exists() || modules.join("../node_modules").exists(),
        "{dir}'s node_modules is missing: run ./scripts/test-env (./scripts/test does) first"
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

/// Where `program` is on `PATH`, if anywhere.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Runs `tests/python/<script>` with the project's `.venv` inside a private network namespace
/// (`scripts/netns-run`: 10.77.0.1 and 10.77.0.2 on a veth pair, nothing reachable outside)
/// beside a fresh `gavel dev` bound to the wildcard address there, and fails the test with both
/// outputs (and the server's log) unless the script exits 0 within `limit`. WebRTC stacks that
/// gather no ICE candidates on loopback alone (aiortc, libwebrtc) need this.
pub fn python_in_namespace(script: &str, limit: std::time::Duration) {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    // The namespace is new for every run, so the server's ports (HTTP 7880, media UDP 7882 and
    // ICE-TCP 7881) are free by construction. Each step is bounded on its own; the server is
    // stopped whatever the outcome, and its log is shown when the script fails.
    let body = r#"set -u
log=$(mktemp)
"$SERVER_BIN" dev --bind 0.0.0.0:7880 >"$log" 2>&1 &
server=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/10.77.0.1/7880) 2>/dev/null && break; sleep 0.1; done
GAVEL_WS=ws://10.77.0.1:7880 timeout "$SCRIPT_TIMEOUT" .venv/bin/python "tests/python/$SCRIPT"
status=$?
kill -TERM $server 2>/dev/null
for _ in $(seq 50); do kill -0 $server 2>/dev/null || break; sleep 0.1; done
kill -KILL $server 2>/dev/null
wait $server 2>/dev/null
if [ $status -ne 0 ]; then echo "--- server log ---" >&2; cat "$log" >&2; fi
rm -f "$log"
exit $status"#;
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test-env (./scripts/test does) first",
        python.display()
    );
    let mut cmd = Command::new(root.join("scripts/netns-run"));
    cmd.args(["bash", "-c", body])
        .current_dir(&root)
        // Like process::gavel: no GAVEL_* configuration leaks in from the caller.
        .env_remove("GAVEL_API_KEY")
        .env_remove("GAVEL_API_SECRET")
        .env_remove("GAVEL_BIND")
        .env_remove("GAVEL_CONFIG")
        .env("SERVER_BIN", super::process::BIN)
        .env("GAVEL_DATA_DIR", super::process::temp_dir("netns-data"))
        .env("SCRIPT", script)
        .env(
            "SCRIPT_TIMEOUT",
            limit
                .saturating_sub(Duration::from_secs(15))
                .as_secs()
                .max(10)
                .to_string(),
        )
        .env("RUST_LOG", "info")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: on a timeout the whole tree (netns-run, bash, the server,
        // Python) is killed at once, since nothing inside starts a group of its own.
        .process_group(0);
    let mut child = cmd.spawn().expect("run scripts/netns-run");
    // Read both pipes on threads so neither fills while we wait.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for netns-run") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // Negative pid: the process group.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    println!("{stdout}");
    eprintln!("{stderr}");
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("{script} failed ({s}):\n{stdout}\n{stderr}"),
        None => panic!("{script} not done within {limit:?}; killed:\n{stdout}\n{stderr}"),
    }
}
