//! `strata dashboard --logdir runs/`: finished and running runs side by side.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use strata::dashboard::{logdir, Board, Server};
use strata::{Error, Result};

#[derive(Args)]
pub struct DashboardArgs {
    /// A folder of run logs: the .jsonl files of `strata train --logdir`, and CSVLogger .csv files.
    #[arg(long)]
    logdir: PathBuf,
    /// Where to serve the page (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:6070")]
    addr: String,
}

pub fn run(args: DashboardArgs) -> Result<()> {
    if !args.logdir.is_dir() {
        return Err(Error::argument("--logdir", format!("{} is not a folder", args.logdir.display())));
    }
    let board = Board::new();
    let server = Server::start(&args.addr, board.clone())?;
    // Reads the folder once now, then watches it for new lines and new runs until interrupted.
    let watcher = logdir::watch(args.logdir.clone(), board.clone(), Arc::new(AtomicBool::new(false)));
    eprintln!("Dashboard: {} ({} runs from {}; Ctrl-C ends it)", server.url(), board.run_names().len(), args.logdir.display());
    watcher.join().map_err(|_| Error::State("the log folder watcher failed".into()))?;
    drop(server);
    Ok(())
}
