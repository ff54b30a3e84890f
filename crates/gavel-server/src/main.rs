//! The `gavel` binary: runs the server (`serve`, `dev`) and operates a running one (`token`,
//! `room`, `participant`, `bans`, `webhooks`) through the server API.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
