//! The `strata` command line: `strata train`, `strata summary`.

mod bench;
mod checks;
mod convert;
mod dashboard;
mod explain;
mod fit;
mod latency;
mod plot;
mod predict;
mod profile;
mod text;
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
    /// Print a Keras-style summary: of the headline CNN, a Keras JSON config (--config) or a saved model (--model).
    Summary {
        /// A Keras model config (`model.to_json()`).
        #[arg(long, conflicts_with = "model")]
        config: Option<std::path::PathBuf>,
        /// A model saved by Strata.
        #[arg(long)]
        model: Option<std::path::PathBuf>,
    },
    /// Train any supported model (Sequential or Functional) from Keras's JSON config on NumPy arrays (.npy, or .npz by name).
    Fit(fit::FitArgs),
    /// Write a saved model's predictions for an .npy array.
    Predict(predict::PredictArgs),
    /// Loss and metrics of a saved model on an IDX folder's test split or .npy arrays; a language model's loss on a text file (--text).
    Evaluate(predict::EvaluateArgs),
    /// Continue a prompt with a saved language model (one whose first layer is a TextVectorization).
    Generate(text::GenerateArgs),
    /// Print a saved model's summary and training state.
    Inspect {
        /// The model file.
        model: std::path::PathBuf,
    },
    /// Measure training and inference speed of the benchmark models, with a per-layer profile.
    Bench(bench::BenchArgs),
    /// Draw a picture of a model's training: `strata plot history M.safetensors --out curves.png`.
    #[command(subcommand)]
    Plot(plot::PlotCommand),
    /// Show what a saved model looks at in an image (saliency, integrated-gradients, gradcam), a layer's activations or the first layer's filters.
    Explain(explain::ExplainArgs),
    /// Serve the live dashboard for the runs logged in a folder (--logdir of `strata train`, CSVLogger files) and Keras RemoteMonitor posts.
    Dashboard(dashboard::DashboardArgs),
    /// Convert a model between a Keras JSON config with safetensors weights and a Strata model file.
    Convert(convert::ConvertArgs),
}

fn summary(config: Option<std::path::PathBuf>, model: Option<std::path::PathBuf>) -> strata::Result<()> {
    let mut m = match (config, model) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(&path).map_err(|e| strata::Error::io(&path, e))?;
            let mut m = strata::model::Model::from_json_str(&text, 0).map_err(|e| strata::Error::data(&path, e.to_string()))?;
            m.build_from_declared().map_err(|e| strata::Error::data(&path, e.to_string()))?;
            m
        }
        (None, Some(path)) => strata::model::Model::load(&path)?,
        (None, None) => strata::applications::headline_cnn(0)?.into_model(),
    };
    m.summary()
}

fn main() {
    let cli = Cli::parse();
    strata::warn_if_unoptimized();
    #[cfg(feature = "mpi")]
    if let Err(e) = strata::distributed::mpi::init() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    // `train` and `bench` size the pool from their `--threads`; the other
    // commands that run a model size it here, on the main thread.
    let pool = || train::set_threads(None);
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fit(args) => pool().and_then(|()| fit::run(args)),
        Command::Predict(args) => pool().and_then(|()| predict::predict(args)),
        Command::Evaluate(args) => pool().and_then(|()| predict::evaluate(args)),
        Command::Generate(args) => pool().and_then(|()| text::generate(args)),
        Command::Inspect { model } => predict::inspect(model),
        Command::Summary { config, model } => summary(config, model),
        Command::Convert(args) => convert::run(args),
        Command::Plot(command) => plot::run(command),
        Command::Explain(args) => pool().and_then(|()| explain::run(args)),
        Command::Dashboard(args) => dashboard::run(args),
    };
    if let Err(e) = result {
        match strata::distributed::default_group() {
            // One rank failing ends every rank now, rather than leaving them waiting for it.
            Some(group) if group.size() > 1 => {
                eprintln!("error on rank {} of {}: {e}", group.rank(), group.size());
                group.abort(1);
            }
            _ => eprintln!("error: {e}"),
        }
        std::process::exit(1);
    }
    #[cfg(feature = "mpi")]
    strata::distributed::mpi::finalize();
}
