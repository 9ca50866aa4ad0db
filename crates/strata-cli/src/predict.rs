//! `strata predict`, `strata evaluate` and `strata inspect` on a saved model.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use strata::io::npy;
use strata::model::Sequential;
use strata::{Error, Result, Tensor};

#[derive(Args)]
pub struct PredictArgs {
    /// A model saved by Strata (`--save`, `model.save`).
    #[arg(long)]
    model: PathBuf,
    /// Inputs, batch first (.npy).
    #[arg(long)]
    x: Option<PathBuf>,
    /// Where to write the predictions (.npy).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Image files (not supported yet: convert them to an .npy array).
    images: Vec<PathBuf>,
}

pub fn predict(args: PredictArgs) -> Result<()> {
    if let Some(first) = args.images.first() {
        return Err(Error::argument("IMAGE", format!("{}: image files are not supported yet; pass --x X.npy --out P.npy", first.display())));
    }
    let (Some(x), Some(out)) = (&args.x, &args.out) else {
        return Err(Error::argument("--x/--out", "predict needs --x X.npy and --out P.npy"));
    };
    let mut model = Sequential::load(&args.model)?;
    let p = model.predict(&npy::read(x)?, args.batch_size as usize)?;
    npy::write(out, &p)?;
    eprintln!("Wrote {} predictions {:?} to {}", p.shape()[0], p.shape(), out.display());
    Ok(())
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// A model saved by Strata.
    #[arg(long)]
    model: PathBuf,
    /// A folder of MNIST-format IDX files (its test split is used).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Inputs (.npy).
    #[arg(long)]
    x: Option<PathBuf>,
    /// Targets (.npy).
    #[arg(long)]
    y: Option<PathBuf>,
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    #[arg(long)]
    json: bool,
}

/// Targets for the test split in the form the model's loss expects.
fn idx_targets(model: &Sequential, labels: &strata::data::mnist::Split) -> Result<Tensor> {
    let sparse = model.to_json()["compile_config"]["loss"].as_str().is_some_and(|l| l.starts_with("sparse"));
    let classes = model.output_shape().and_then(|s| s.last().copied()).unwrap_or(10);
    if sparse { Ok(labels.label_tensor()) } else { labels.one_hot(classes) }
}

pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    let mut model = Sequential::load(&args.model)?;
    if model.optimizer().is_none() {
        return Err(Error::argument("--model", "the model has no compile_config (loss), so it cannot be evaluated"));
    }
    let (x, y) = match (&args.data, &args.x, &args.y) {
        (Some(dir), None, None) => {
            let test = strata::datasets::load_idx_dir(dir)?.test;
            let y = idx_targets(&model, &test).map_err(|e| Error::data(dir, e.to_string()))?;
            (test.images, y)
        }
        (None, Some(x), Some(y)) => (npy::read(x)?, npy::read(y)?),
        _ => return Err(Error::argument("--data/--x/--y", "give either --data DIR or both --x X.npy and --y Y.npy")),
    };
    let logs = model.evaluate(&x, &y, args.batch_size as usize)?;
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = logs.0.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        println!("{} samples - {}", x.shape()[0], logs.describe());
    }
    Ok(())
}

pub fn inspect(path: PathBuf) -> Result<()> {
    let mut model = Sequential::load(&path)?;
    print!("{}", model.summary_string()?);
    let json = model.to_json();
    println!("File: {} (Strata model format {})", path.display(), strata::model::FORMAT_VERSION);
    println!("Epochs trained: {}", model.epochs_trained());
    if let Some(opt) = model.optimizer() {
        println!("Optimizer: {} (learning rate {}, {} updates)", opt.name(), opt.learning_rate(), opt.iterations());
        println!("Loss: {}  Metrics: {}", json["compile_config"]["loss"], json["compile_config"]["metrics"]);
    }
    for (name, values) in &model.history().history {
        if let Some(last) = values.last() {
            println!("Last {name}: {last:.4}");
        }
    }
    Ok(())
}
