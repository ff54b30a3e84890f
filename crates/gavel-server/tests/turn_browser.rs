//! A browser that can reach the server only through TURN over TLS still sends and receives
//! media (`tests/browser/turn/turn-only.test.js`). `scripts/netns-pair` makes two network
//! namespaces joined by a veth pair: the real `gavel` binary in one (HTTPS and TURN over TLS
//! with a certificate from the test's own CA, media on UDP and ICE-TCP), Chromium in the other,
//! whose nftables firewall lets nothing out to the server but TCP to the HTTPS and TURN-TLS
//! ports. Before the browser runs, the test checks the firewall really drops the media ports.

mod common;

use base64::Engine as _;
use common::external::{run_checked, workspace_root};
use common::tls::issue_for;
use sha2::Digest;

const HTTPS_PORT: u16 = 7443;
const TURN_TLS_PORT: u16 = 5349;

#[tokio::test]
async fn a_browser_behind_a_firewall_gets_its_media_through_turn_over_tls() {
    let dir = common::process::temp_dir("turn-browser");
    let (issued, spki) = issue_for("turn test", &["10.78.0.1"]);
    let (cert, key) = common::tls::write(&dir, &issued);
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &issued.ca_pem).unwrap();
    let config = dir.join("gavel.toml");
    std::fs::write(
        &config,
        format!(
            r#"bind = "10.78.0.1:{HTTPS_PORT}"
data_dir = "{data}"

[tls]
cert = "{cert}"
key = "{key}"

[media]
udp_port = 7882
tcp_port = 7881

[turn]
enabled = true
udp_port = 3478
tls_port = {TURN_TLS_PORT}
"#,
            data = dir.join("data").display(),
            cert = cert.display(),
            key = key.display(),
        ),
    )
    .unwrap();
    // In the client's namespace: everything to the server dropped but HTTPS and TURN over TLS.
    let rules = dir.join("firewall.nft");
    std::fs::write(
        &rules,
        format!(
            "table inet gavel_test {{
  chain output {{
    type filter hook output priority 0; policy accept;
    ip daddr 10.78.0.1 tcp dport {{ {HTTPS_PORT}, {TURN_TLS_PORT} }} accept
    ip daddr 10.78.0.1 drop
  }}
}}
"
        ),
    )
    .unwrap();
    let spki = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&spki));
    let node = which("node");
    let script = format!(
        r#"set -u
server_log={log}
# GAVEL_HTTP is the tests', not a configuration key.
env -u GAVEL_HTTP "$SERVER_BIN" dev --config {config} >"$server_log" 2>&1 &
server=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/10.78.0.1/{HTTPS_PORT}) 2>/dev/null && break; sleep 0.1; done
client() {{ nsenter --net="$CLIENT_NETNS" "$@"; }}
client nft -f {rules}
# The firewall holds: ICE-TCP is unreachable, HTTPS is not.
if client timeout 3 bash -c '(exec 3<>/dev/tcp/10.78.0.1/7881)' 2>/dev/null; then
    echo "the firewall lets ICE-TCP through" >&2; kill $server; cat "$server_log" >&2; exit 1
fi
client timeout 3 bash -c '(exec 3<>/dev/tcp/10.78.0.1/{HTTPS_PORT})' || {{ echo "HTTPS blocked" >&2; kill $server; cat "$server_log" >&2; exit 1; }}
client timeout 300 "$NODE" --test tests/browser/turn/turn-only.test.js
status=$?
kill $server; wait $server 2>/dev/null
if [ $status -ne 0 ]; then cat "$server_log" >&2; fi
exit $status"#,
        log = dir.join("server.log").display(),
        config = config.display(),
        rules = rules.display(),
    );
    let env = vec![
        ("SERVER_BIN".into(), common::process::BIN.to_string()),
        ("NODE".into(), node),
        (
            "GAVEL_HTTP".into(),
            format!("https://10.78.0.1:{HTTPS_PORT}"),
        ),
        ("SERVER_SPKI".into(), spki),
        // Node's own requests (the dev token, metrics) trust the test's CA.
        ("NODE_EXTRA_CA_CERTS".into(), ca.display().to_string()),
        ("RUST_LOG".into(), "info".into()),
    ];
    let program = workspace_root().join("scripts/netns-pair");
    run_checked(program, vec!["bash".into(), "-c".into(), script], env).await;
}

fn which(program: &str) -> String {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
        .display()
        .to_string()
}
