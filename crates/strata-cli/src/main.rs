//! The `strata` command line: `strata train`, `strata summary`.

mod bench;
mod fit;
mod predict;
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
    /// Train any supported Sequential model from Keras's JSON config on NumPy arrays.
    Fit(fit::FitArgs),
    /// Write a saved model's predictions for an .npy array.
    Predict(predict::PredictArgs),
    /// Loss and metrics of a saved model on an IDX folder's test split or .npy arrays.
    Evaluate(predict::EvaluateArgs),
    /// Print a saved model's summary and training state.
    Inspect {
        /// The model file.
        model: std::path::PathBuf,
    },
    /// Measure training and inference speed of the benchmark models, with a per-layer profile.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Predict(args) => predict::predict(args),
        Command::Evaluate(args) => predict::evaluate(args),
        Command::Inspect { model } => predict::inspect(model),
        Command::Summary => strata::applications::headline_cnn(0).and_then(|mut m| m.summary()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
