//! The real `gavel` binary: refusing to start without (strong) credentials, the `dev` banner and
//! its tokens, and a graceful SIGTERM that tells connected clients before exiting 0.

mod common;
use common::process::*;
use common::*;
use gavel_client::{AccessToken, ApiClient, RtcClient};
use std::process::ExitStatus;

/// Runs `gavel` to completion and returns its status and stderr.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let mut p = Proc(gavel(args).spawn().expect("spawn gavel"));
    let status = p.wait_exit();
    let mut stderr = String::new();
    std::io::Read::read_to_string(p.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

#[test]
fn serve_without_credentials_refuses_to_start() {
    for args in [
        &["serve", "--bind", "127.0.0.1:0"][..],
        &["serve", "--bind", "127.0.0.1:0", "--api-key", "k"],
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--api-secret",
            "0123456789abcdef0123456789abcdef",
        ],
    ] {
        let (status, stderr) = run_to_exit(args);
        assert!(!status.success(), "{args:?}: {status}");
        assert!(
            stderr.contains("no API key configured") && stderr.contains("--api-key"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn serve_with_a_short_secret_refuses_to_start() {
    let short = "x".repeat(31);
    let (status, stderr) = run_to_exit(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--api-key",
        "prod",
        "--api-secret",
        &short,
    ]);
    assert!(!status.success(), "{status}");
    assert!(
        stderr.contains("'prod'") && stderr.contains("31 bytes") && stderr.contains("32"),
        "{stderr}"
    );
    // The dev secret is refused outside dev mode too.
    let (status, stderr) = run_to_exit(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--api-key",
        KEY,
        "--api-secret",
        SECRET,
    ]);
    assert!(!status.success(), "{status}");
    assert!(stderr.contains("at least 32"), "{stderr}");
}

/// With a 32-byte secret from the environment, `serve` runs, accepts only tokens signed with
/// it, and stops cleanly on SIGTERM.
#[tokio::test]
async fn serve_with_credentials_from_the_environment() {
    let port = free_port();
    let secret = "s".repeat(32);
    let mut cmd = gavel(&["serve", "--bind", &format!("127.0.0.1:{port}")]);
    cmd.env("GAVEL_API_KEY", "prod")
        .env("GAVEL_API_SECRET", &secret);
    let mut p = Proc(cmd.spawn().expect("spawn gavel"));
    let lines = p.stdout_lines();
    wait_for_line(&lines, "listening");

    let http = format!("http://127.0.0.1:{port}");
    let api = ApiClient::new(
        &http,
        &AccessToken::new("prod", &secret).admin(None).to_jwt(),
    );
    api.list_rooms().await.unwrap();
    let dev = ApiClient::new(&http, &AccessToken::new(KEY, SECRET).admin(None).to_jwt());
    assert_eq!(api_code(dev.list_rooms().await), ("unauthenticated", 401));
    p.sigterm();
    assert!(p.wait_exit().success());
}

/// The line after the one starting with `label` (the banner prints tokens indented below).
fn after<'a>(banner: &'a [String], label: &str) -> &'a str {
    let i = banner
        .iter()
        .position(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in {banner:#?}"));
    banner[i + 1].trim()
}

fn assert_jwt(token: &str) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert!(parts.iter().all(|p| !p.is_empty()), "{token}");
}

#[tokio::test]
async fn dev_prints_credentials_and_sigterm_is_graceful() {
    let port = free_port();
    let mut p = Proc(
        gavel(&["dev", "--bind", &format!("127.0.0.1:{port}")])
            .spawn()
            .expect("spawn gavel"),
    );
    let lines = p.stdout_lines();
    let banner = wait_for_line(&lines, "Join:");
    let text = banner.join("\n");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    let key = banner.iter().find(|l| l.contains("API key:")).unwrap();
    assert_eq!(key.split(':').nth(1).unwrap().trim(), "devkey", "{text}");
    let secret = banner.iter().find(|l| l.contains("API secret:")).unwrap();
    assert_eq!(secret.split(':').nth(1).unwrap().trim(), SECRET, "{text}");
    let host_token = after(&banner, "Host token");
    let guest_token = after(&banner, "Participant token");
    let admin_token = after(&banner, "Server API token");
    for t in [host_token, guest_token, admin_token] {
        assert_jwt(t);
    }

    // The printed tokens work.
    let ws = format!("ws://127.0.0.1:{port}");
    let host = RtcClient::connect(&ws, host_token).await.unwrap();
    let me = host.state().me.unwrap();
    assert_eq!((me.identity.as_str(), me.role.as_str()), ("host", "host"));
    assert_eq!(host.state().room, "demo");
    let guest = RtcClient::connect(&ws, guest_token).await.unwrap();
    assert_eq!(guest.state().me.unwrap().role, "participant");
    expect(&host, "participant_joined").await;
    let api = ApiClient::new(&format!("http://127.0.0.1:{port}"), admin_token);
    assert_eq!(api_identities(&api, "demo").await, ["guest", "host"]);

    // SIGTERM: every client hears `room_left {reason: server_shutdown}`, then the process exits 0.
    p.sigterm();
    expect_room_left(&host, "server_shutdown", None).await;
    expect_room_left(&guest, "server_shutdown", None).await;
    let status = p.wait_exit();
    assert!(status.success(), "{status}");
    assert_eq!(status.code(), Some(0));
}

/// Logs written to a pipe (a file, journald, a log collector) carry no ANSI colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let port = free_port();
    let mut cmd = gavel(&["dev", "--bind", &format!("127.0.0.1:{port}")]);
    // NO_COLOR would hide the defect: colour must be off because stdout is not a terminal.
    cmd.env_remove("NO_COLOR");
    let mut p = Proc(cmd.spawn().expect("spawn gavel"));
    let lines = p.stdout_lines();
    let mut log = wait_for_line(&lines, "listening");
    p.sigterm();
    assert!(p.wait_exit().success());
    log.extend(lines.iter());
    let mut stderr = String::new();
    std::io::Read::read_to_string(p.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let text = format!("{}\n{stderr}", log.join("\n"));
    assert!(text.contains("shutting down"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "escape codes in a piped log:\n{text:?}"
    );
}

/// Every flag of `gavel dev` and `gavel serve` says what it is for in `--help`.
#[test]
fn help_describes_every_server_flag() {
    for (command, flags) in [
        ("dev", &["--bind", "--config"][..]),
        (
            "serve",
            &["--bind", "--config", "--api-key", "--api-secret"],
        ),
    ] {
        let out = gavel(&[command, "--help"]).output().expect("run gavel");
        assert!(out.status.success(), "{command} --help: {}", out.status);
        let help = String::from_utf8(out.stdout).unwrap();
        for flag in flags {
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(flag))
                .unwrap_or_else(|| panic!("no {flag} in `gavel {command} --help`:\n{help}"));
            // `--config <CONFIG>  Configuration file … [env: GAVEL_CONFIG=]`: words between the
            // value placeholder and clap's own `[env: …]` / `[default: …]` notes.
            let after_value = line.split_once('>').map_or("", |(_, rest)| rest);
            let description = after_value.split('[').next().unwrap_or("").trim();
            assert!(
                description.len() > 10,
                "`gavel {command} --help` does not describe {flag}:\n{help}"
            );
        }
    }
}
