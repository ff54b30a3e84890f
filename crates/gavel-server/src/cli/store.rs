//! `gavel store`: operations on the durable store itself, run where the data is (no server).

use clap::Subcommand;
use gavel_client::ApiError;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum StoreCmd {
    /// Copy a node's SQLite data into an empty PostgreSQL database (then set
    /// `[store] postgres` and start the server on it). Stop the server first.
    Migrate {
        /// The data directory holding gavel.db.
        #[arg(long, default_value = "./gavel-data", env = "GAVEL_DATA_DIR")]
        data_dir: PathBuf,
        /// The PostgreSQL database (`postgresql://user@host/db` or `host=… dbname=…`).
        #[arg(long, env = "GAVEL_STORE__POSTGRES", hide_env_values = true)]
        postgres: String,
    },
}

pub async fn run(command: StoreCmd) -> Result<(), ApiError> {
    match command {
        StoreCmd::Migrate { data_dir, postgres } => {
            // Blocking clients: on a thread of their own, off the async runtime.
            let copied = std::thread::spawn(move || {
                gavel_server::store::copy::sqlite_to_postgres(&data_dir, &postgres)
            })
            .join()
            .map_err(|_| local("the copy failed (see the log)"))?
            .map_err(|e| local(&e.message))?;
            for (table, rows) in copied {
                println!("{table:<16} {rows}");
            }
            Ok(())
        }
    }
}

fn local(message: &str) -> ApiError {
    ApiError {
        status: 0,
        error: gavel_client::core::Error::new(gavel_client::core::ErrorCode::Unavailable, message),
    }
}
