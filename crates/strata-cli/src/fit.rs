//! `strata fit`: train any model Strata supports (Sequential or Functional),
//! from Keras's JSON config and NumPy arrays, and save it as one file.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use strata::io::npy;
use strata::model::{compile_from_config, Compile, Feed, FitOptions, Model};
use strata::{losses, optimizers, Error, Result, Tensor};

use crate::checks;

#[derive(Args)]
pub struct FitArgs {
    /// Keras model JSON (`model.to_json()`), with or without compile_config.
    #[arg(long)]
    config: PathBuf,
    /// Initial weights: safetensors named `layer_name/variable_name`, as Keras names them.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Inputs, batch first: .npy, or .npz with one array per model input, by input name.
    #[arg(long)]
    x: PathBuf,
    /// Targets, batch first (one-hot rows, or class ids for sparse losses):
    /// .npy, or .npz with one array per model output, by output name.
    #[arg(long)]
    y: PathBuf,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Keep the samples in file order.
    #[arg(long)]
    no_shuffle: bool,
    /// Optimizer by Keras identifier (adam, sgd); default: the config's compile_config.
    #[arg(long)]
    optimizer: Option<String>,
    /// Learning rate: of --optimizer, or else of the config's optimizer (default: Keras's for that optimizer).
    #[arg(long, allow_negative_numbers = true)]
    learning_rate: Option<f32>,
    /// Loss by Keras identifier (categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error).
    #[arg(long)]
    loss: Option<String>,
    #[arg(long, default_value_t = 0.0)]
    validation_split: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the trained model (one safetensors file, also a checkpoint).
    #[arg(long)]
    save: PathBuf,
    /// End with one JSON object on standard output.
    #[arg(long)]
    json: bool,
}

/// Arrays from `.npy` (one) or `.npz` (by name, Keras's dict convention).
pub fn feed(path: &std::path::Path) -> Result<Feed> {
    let mut arrays = npy::read_arrays(path)?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => Ok(Feed::Named(arrays)),
        _ => Ok(Feed::One(arrays.remove(0).1)),
    }
}

/// The first array of a feed (its sample count is every array's, once checked).
fn first(feed: &Feed) -> Option<&Tensor> {
    match feed {
        Feed::One(t) => Some(t),
        Feed::List(v) => v.first(),
        Feed::Named(v) => v.first().map(|(_, t)| t),
    }
}

pub fn run(args: FitArgs) -> Result<()> {
    checks::writable("--save", &args.save)?;
    checks::learning_rate("--learning-rate", args.learning_rate)?;
    checks::epochs(args.epochs, 0)?;
    let text = std::fs::read_to_string(&args.config).map_err(|e| Error::io(&args.config, e))?;
    let mut model = Model::from_json_str(&text, args.seed).map_err(|e| Error::data(&args.config, e.to_string()))?;
    let (x, y) = (feed(&args.x)?, feed(&args.y)?);
    let samples = first(&x).map(|t| t.shape().first().copied().unwrap_or(0)).unwrap_or(0);
    if let (false, Feed::One(t)) = (model.is_built(), &x) {
        model.build_for(std::slice::from_ref(t))?;
    }
    if let Some(w) = &args.weights {
        model.load_weights(w)?;
    }
    if args.optimizer.is_some() || args.loss.is_some() || model.optimizer().is_none() {
        let from_config = model.to_json().get("compile_config").map(compile_from_config).transpose()?;
        let optimizer = match &args.optimizer {
            Some(name) => {
                let mut cfg = json!({ "class_name": name, "config": {} });
                if let Some(lr) = args.learning_rate {
                    cfg["config"]["learning_rate"] = json!(lr);
                }
                Some(optimizers::from_config(&cfg).map_err(|e| Error::argument("--optimizer", e.to_string()))?)
            }
            None => None,
        };
        let mut compile = match (from_config, optimizer) {
            (Some(c), Some(o)) => c.optimizer(o),
            (Some(c), None) => c,
            (None, Some(o)) => Compile::new(o),
            (None, None) => return Err(Error::argument("--optimizer", "the config has no compile_config: name an optimizer (adam, sgd)")),
        };
        match &args.loss {
            Some(name) => {
                let loss = losses::from_name(name).map_err(|e| Error::argument("--loss", e.to_string()))?;
                if loss.name().contains("crossentropy") && !compile.has_metrics() {
                    compile = compile.metrics(&["accuracy"]);
                }
                compile = compile.loss(loss);
            }
            None if model.to_json().get("compile_config").is_none() => return Err(Error::argument("--loss", "the config has no compile_config: name a loss")),
            None => {}
        }
        model.compile_with(compile)?;
    }
    if let (Some(lr), None) = (args.learning_rate, &args.optimizer) {
        // The config's own optimizer, at the rate asked for.
        let optimizer = model.optimizer_mut().ok_or_else(|| Error::argument("--learning-rate", "the model has no optimizer to set it on: name one with --optimizer"))?;
        optimizer.set_learning_rate(lr);
        if optimizer.learning_rate() != lr {
            return Err(Error::argument("--learning-rate", "the config's optimizer follows a learning-rate schedule, which a fixed rate cannot replace: name an optimizer with --optimizer"));
        }
    }
    let options = FitOptions {
        epochs: args.epochs,
        batch_size: args.batch_size as usize,
        shuffle: !args.no_shuffle,
        validation_split: args.validation_split,
        verbose: if args.json { 2 } else { 1 },
        ..FitOptions::default()
    };
    let history = model.fit(x, y, options)?;
    // Under mpirun, rank 0 saves and prints; the others trained alongside it.
    if !strata::distributed::is_primary() {
        return Ok(());
    }
    model.save(&args.save)?;
    if args.json {
        println!("{}", json!({ "epochs": args.epochs, "train_samples": samples, "history": history.history, "epoch_seconds": history.epoch_seconds, "saved": args.save }));
    } else {
        println!("Saved {}", args.save.display());
    }
    Ok(())
}
