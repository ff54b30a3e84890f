//! The README's commands work as written on a checkout: the "Run it" command is run verbatim from
//! the repository root (as a child process) until the server answers `/healthz`, and the "Test
//! it" command is the one CI runs.
//!
//! The run command is `cargo run --release …`: scripts/test builds that release binary before the
//! tests with the same package selection (`cargo build --release --bin gavel`), so here cargo
//! finds it fresh and only starts it. Run alone, this test compiles the release build first.

mod common;
use common::external::workspace_root;
use common::process::{free_port, temp_dir};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough for a cold release build on a small machine; a started server answers in seconds.
const START_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The command lines of the first code block under the heading `section` in README.md.
fn readme_commands(section: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let heading = format!("## {section}\n");
    let after = readme
        .split_once(&heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"))
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .unwrap_or_else(|| panic!("no sh code block under {heading:?}"))
        .0;
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// A command running in its own process group; the whole group is killed on drop, so
/// `cargo run`'s server never outlives the test.
struct Group(Child);

impl Group {
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal("-KILL");
        let _ = self.0.wait();
    }
}

/// `GET /healthz` → the body, if the server answered 200.
fn healthz(port: u16) -> Option<String> {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

#[test]
fn the_run_command_starts_a_dev_server() {
    let commands = readme_commands("Run it");
    assert_eq!(commands.len(), 1, "one run command: {commands:?}");
    let command = &commands[0];
    // Plain words, so running them without a shell is running the command as written.
    assert!(
        !command.contains(|c: char| "'\"$`\\|&;<>()*?".contains(c)),
        "{command}"
    );
    let words: Vec<&str> = command.split_whitespace().collect();

    // The command as written; only the environment picks a free port and a scratch data folder.
    let port = free_port();
    let out = temp_dir("readme");
    let stdout = std::fs::File::create(out.join("stdout")).unwrap();
    let stderr = std::fs::File::create(out.join("stderr")).unwrap();
    let child = Command::new(words[0])
        .args(&words[1..])
        .current_dir(workspace_root())
        .env("GAVEL_BIND", format!("127.0.0.1:{port}"))
        .env("GAVEL_DATA_DIR", out.join("data"))
        .env_remove("GAVEL_API_KEY")
        .env_remove("GAVEL_API_SECRET")
        .env_remove("GAVEL_CONFIG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"));
    let mut group = Group(child);
    let output = || {
        let read = |name| std::fs::read_to_string(out.join(name)).unwrap_or_default();
        format!("stdout:\n{}\nstderr:\n{}", read("stdout"), read("stderr"))
    };

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(body) = healthz(port) {
            assert_eq!(body.trim(), "ok", "{}", output());
            break;
        }
        if let Some(status) = group.0.try_wait().unwrap() {
            panic!("`{command}` exited with {status}\n{}", output());
        }
        assert!(
            Instant::now() < deadline,
            "`{command}`: no /healthz in {START_TIMEOUT:?}\n{}",
            output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let banner = output();
    assert!(
        banner.contains(&format!(
            "Gavel development server on http://127.0.0.1:{port}"
        )) && banner.contains("Server API token"),
        "{banner}"
    );

    // SIGTERM (to cargo and the server it runs): the server shuts down gracefully and exits 0.
    group.signal("-TERM");
    let stop = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < stop, "no exit after SIGTERM\n{}", output());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}\n{}", output());
    assert!(output().contains("shutting down"), "{}", output());
}

#[test]
fn the_test_command_is_what_ci_runs() {
    assert_eq!(readme_commands("Test it"), ["./scripts/test"]);
    let ci = std::fs::read_to_string(workspace_root().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "exec ./scripts/test"),
        ".ci/run does not run ./scripts/test:\n{ci}"
    );
}
