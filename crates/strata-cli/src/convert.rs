//! `strata convert IN OUT [--weights W]`: between Keras's `.keras` files, a
//! Keras JSON config with its weights (safetensors keyed `layer/variable`) and
//! Strata's one-file model, the formats chosen by the file extensions.

use std::path::{Path, PathBuf};

use clap::Args;
use strata::model::Model;
use strata::{Error, Result};

use crate::checks;

#[derive(Args)]
pub struct ConvertArgs {
    /// The model to read: a Strata model (.safetensors), a Keras model (.keras), or a Keras JSON config (.json, with --weights).
    input: PathBuf,
    /// Where to write it: a Strata model (.safetensors), a Keras model (.keras), or a Keras JSON config (.json; the weights go to --weights).
    output: PathBuf,
    /// The weights beside a .json config: read from there for a .json input, written there for a .json output.
    #[arg(long)]
    weights: Option<PathBuf>,
}

fn extension(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

/// The config's model with its weights.
pub fn from_config(config: &Path, weights: &Path) -> Result<Model> {
    let text = std::fs::read_to_string(config).map_err(|e| Error::io(config, e))?;
    let mut model = Model::from_json_str(&text, 0).map_err(|e| Error::data(config, e.to_string()))?;
    if !model.is_built() {
        model.build_from_declared().map_err(|e| Error::data(config, e.to_string()))?;
    }
    model.load_weights(weights)?;
    Ok(model)
}

pub fn run(args: ConvertArgs) -> Result<()> {
    let unknown = |flag: &str, path: &Path| Error::argument(flag, format!("{}: use .safetensors (a Strata model), .keras (a Keras model) or .json (a Keras config; weights with --weights)", path.display()));
    let (from, to) = (extension(&args.input), extension(&args.output));
    if !["safetensors", "keras", "json"].contains(&to) {
        return Err(unknown("OUT", &args.output));
    }
    checks::writable("OUT", &args.output)?;
    if let (Some(w), "json") = (&args.weights, to) {
        checks::writable("--weights", w)?;
    }
    let model = match (from, &args.weights) {
        ("json", Some(weights)) => from_config(&args.input, weights)?,
        ("json", None) => return Err(Error::argument("--weights", "a .json config has no weights: give them with --weights W.safetensors")),
        _ => Model::load(&args.input)?,
    };
    match (to, &args.weights) {
        ("json", Some(weights)) => {
            let text = serde_json::to_string_pretty(&model.to_json()).map_err(|e| Error::data(&args.output, e.to_string()))?;
            strata::io::atomic::write(&args.output, text.as_bytes())?;
            model.save_weights(weights)?;
            eprintln!("Wrote the config to {} and the weights to {}", args.output.display(), weights.display());
        }
        ("json", None) => return Err(Error::argument("--weights", "a .json config holds no weights: say where they go with --weights W.safetensors")),
        _ => {
            model.save(&args.output)?;
            eprintln!("Wrote {}", args.output.display());
        }
    }
    Ok(())
}
