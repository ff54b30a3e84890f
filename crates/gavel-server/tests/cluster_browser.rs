//! The web console in cluster mode, in Debian's Chromium (`tests/browser/cluster/`): a
//! participant's media session follows her room to another node — after a move between nodes,
//! and after the node serving her room stops — without her doing anything. Two nodes of
//! `deploy/local-cluster` (with their PostgreSQL and Redis) run inside a private network namespace
//! (`scripts/netns-run`: Chromium gathers no ICE candidates on loopback alone), bound to
//! 10.77.0.1; their ports are free by construction in a new namespace.

mod common;

use common::external::{run_checked, workspace_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_participants_media_follows_her_room_across_nodes() {
    let node = common::external::find_on_path("node")
        .expect("node is not on PATH (scripts/test-env installs it)")
        .display()
        .to_string();
    let admin = gavel_client::AccessToken::new(common::KEY, common::SECRET)
        .admin(None)
        .to_jwt();
    assert!(
        workspace_root().join("tests/browser/node_modules").exists(),
        "tests/browser/node_modules is missing: run ./scripts/test-env (./scripts/test does) first"
    );
    let dir = common::process::temp_dir("cluster-browser");
    let script = format!(
        r#"set -u
dir={dir}
GAVEL_BIN="$SERVER_BIN" RUST_LOG=warn deploy/local-cluster --dir "$dir/cluster" --host 10.77.0.1 \
    --ports 7880,7890 --lease-ttl-ms 3000 --heartbeat-ms 500 >"$dir/cluster.out" 2>&1 &
cluster=$!
for _ in $(seq 600); do grep -q '^ready' "$dir/cluster.out" && break; sleep 0.1; done
if ! grep -q '^ready' "$dir/cluster.out"; then
    cat "$dir/cluster.out" >&2; kill -TERM $cluster; wait $cluster; exit 1
fi
export GAVEL_NODE2_PID=$(awk '$1 == "node" && $2 == 2 {{print $5}}' "$dir/cluster.out")
GAVEL_HTTP=http://10.77.0.1:7880 GAVEL_HTTP2=http://10.77.0.1:7890 \
    timeout 300 "$NODE" --test tests/browser/cluster/move.test.js
status=$?
kill -TERM $cluster; wait $cluster
if [ $status -ne 0 ]; then
    for log in "$dir"/cluster/node-*/gavel.log; do echo "--- $log" >&2; tail -n 40 "$log" >&2; done
fi
exit $status"#,
        dir = dir.display()
    );
    let env = vec![
        ("SERVER_BIN".into(), common::process::BIN.to_string()),
        ("NODE".into(), node),
        ("GAVEL_ADMIN_TOKEN".into(), admin),
    ];
    let program = workspace_root().join("scripts/netns-run");
    run_checked(program, vec!["bash".into(), "-c".into(), script], env).await;
}
