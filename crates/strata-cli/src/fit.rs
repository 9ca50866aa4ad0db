//! `strata fit`: train any Sequential model Strata supports, from Keras's
//! JSON config and NumPy arrays, and save it as one file.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use strata::io::npy;
use strata::model::{FitOptions, Sequential};
use strata::{losses, optimizers, Error, Result};

#[derive(Args)]
pub struct FitArgs {
    /// Keras model JSON (`model.to_json()`), with or without compile_config.
    #[arg(long)]
    config: PathBuf,
    /// Initial weights: safetensors named `layer_name/variable_name`, as Keras names them.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Inputs, batch first (.npy).
    #[arg(long)]
    x: PathBuf,
    /// Targets, batch first (.npy): one-hot rows, or class ids for sparse losses.
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
    /// Learning rate for --optimizer (default: Keras's for that optimizer).
    #[arg(long)]
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

pub fn run(args: FitArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config).map_err(|e| Error::io(&args.config, e))?;
    let mut model = Sequential::from_json_str(&text, args.seed).map_err(|e| Error::data(&args.config, e.to_string()))?;
    let (x, y) = (npy::read(&args.x)?, npy::read(&args.y)?);
    if !model.is_built() {
        model.build(x.shape().get(1..).unwrap_or(&[]))?;
    }
    if let Some(w) = &args.weights {
        model.load_weights(w)?;
    }
    if args.optimizer.is_some() || args.loss.is_some() || model.optimizer().is_none() {
        let from_config = model.to_json().get("compile_config").cloned();
        let optimizer = match (&args.optimizer, &from_config) {
            (Some(name), _) => {
                let mut cfg = json!({ "class_name": name, "config": {} });
                if let Some(lr) = args.learning_rate {
                    cfg["config"]["learning_rate"] = json!(lr);
                }
                optimizers::from_config(&cfg).map_err(|e| Error::argument("--optimizer", e.to_string()))?
            }
            (None, Some(cc)) => optimizers::from_config(&cc["optimizer"])?,
            (None, None) => return Err(Error::argument("--optimizer", "the config has no compile_config: name an optimizer (adam, sgd)")),
        };
        let loss = match (&args.loss, &from_config) {
            (Some(name), _) => losses::from_name(name).map_err(|e| Error::argument("--loss", e.to_string()))?,
            (None, Some(cc)) => losses::from_config(&cc["loss"])?,
            (None, None) => return Err(Error::argument("--loss", "the config has no compile_config: name a loss")),
        };
        let metrics: &[&str] = if loss.name().contains("crossentropy") { &["accuracy"] } else { &[] };
        model.compile(optimizer, loss, metrics)?;
    }
    let options = FitOptions {
        epochs: args.epochs,
        batch_size: args.batch_size as usize,
        shuffle: !args.no_shuffle,
        validation_split: args.validation_split,
        verbose: if args.json { 2 } else { 1 },
        ..FitOptions::default()
    };
    let history = model.fit(&x, &y, options)?;
    model.save(&args.save)?;
    if args.json {
        println!("{}", json!({ "epochs": args.epochs, "train_samples": x.shape()[0], "history": history.history, "epoch_seconds": history.epoch_seconds, "saved": args.save }));
    } else {
        println!("Saved {}", args.save.display());
    }
    Ok(())
}
