//! The `gavel` binary: runs the server (`serve`, `dev`) and operates a running one (`token`,
//! `room`, `participant`, `bans`) through the server API.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
