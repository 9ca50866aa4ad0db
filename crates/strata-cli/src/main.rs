//! The `strata` command line: `strata train`, `strata summary`.

mod bench;
mod profile;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "strata", version, about = "Keras-style deep learning in Rust")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the headline CNN (the founding document's Keras model) and report test accuracy.
    Train(train::TrainArgs),
    /// Print the headline CNN's Keras-style summary.
    Summary,
    /// Measure training and inference speed of the benchmark models, with a per-layer profile.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Summary => strata::applications::headline_cnn(0).and_then(|mut m| m.summary()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
