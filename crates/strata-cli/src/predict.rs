//! `strata predict`, `strata evaluate` and `strata inspect` on a saved model.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use strata::data::audio;
use strata::data::images::{self, ColorMode, ImageOptions};
use strata::io::npy;
use strata::model::Model;
use strata::{Error, Result, Tensor};

#[derive(Args)]
pub struct PredictArgs {
    /// A model saved by Strata (`--save`, `model.save`).
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    model: Option<PathBuf>,
    /// Instead of --model: Keras model JSON (`model.to_json()`), with --weights.
    #[arg(long, requires = "weights")]
    config: Option<PathBuf>,
    /// With --config: weights in safetensors, named by Keras's variable paths.
    #[arg(long, requires = "config")]
    weights: Option<PathBuf>,
    /// Inputs, batch first: .npy, or .npz with one array per model input, by input name.
    #[arg(long)]
    x: Option<PathBuf>,
    /// Where to write the predictions: .npy (a one-output model), or .npz keyed by output name.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Multiplies image pixels (0-255) before the model sees them; Strata's MNIST loaders use 1/255.
    #[arg(long, default_value_t = 1.0 / 255.0)]
    scale: f32,
    /// How many of the most likely classes to print per file.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    top: u64,
    /// Class names in label order, comma-separated (default: the class ids).
    #[arg(long, value_delimiter = ',')]
    class_names: Vec<String>,
    #[arg(long)]
    json: bool,
    /// For WAV files: the rate to resample them to (default: the model's MelSpectrogram's `sampling_rate`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    sample_rate: Option<u64>,
    /// Image files (PNG, JPEG), resized and converted to the model's input shape; WAV
    /// recordings, as one channel at the model's rate, cut or zero-padded to its input length;
    /// or .txt files, one text each, for a model whose first layer is a TextVectorization.
    files: Vec<PathBuf>,
}

/// The model of `--model`, or of `--config` with `--weights`.
fn model_of(args: &PredictArgs) -> Result<Model> {
    match (&args.model, &args.config, &args.weights) {
        (Some(path), _, _) => Model::load(path),
        (None, Some(config), Some(weights)) => crate::convert::from_config(config, weights),
        _ => Err(Error::argument("--model", "give --model M.safetensors, or --config C.json with --weights W.safetensors")),
    }
}

pub fn predict(args: PredictArgs) -> Result<()> {
    if let Some(out) = &args.out {
        crate::checks::writable("--out", out)?;
    }
    let mut model = model_of(&args)?;
    if !args.files.is_empty() {
        return predict_files(&mut model, &args);
    }
    let (Some(x), Some(out)) = (&args.x, &args.out) else {
        return Err(Error::argument("--x/--out", "predict needs --x X.npy (or .npz) and --out P.npy (or .npz), or image or WAV files"));
    };
    let outputs = model.predict_many(crate::fit::feed(x)?, args.batch_size as usize)?;
    let names = model.output_names();
    match (out.extension().and_then(|e| e.to_str()), &outputs[..]) {
        (Some("npz"), _) => npy::write_npz(out, &names.iter().cloned().zip(outputs.iter().cloned()).collect::<Vec<_>>())?,
        (_, [one]) => npy::write(out, one)?,
        _ => return Err(Error::argument("--out", format!("the model has {} outputs ({}): write them to a .npz file", outputs.len(), names.join(", ")))),
    }
    let shapes: Vec<String> = outputs.iter().map(|p| strata::core::fmt_shape(p.shape())).collect();
    eprintln!("Wrote predictions {} to {}", shapes.join(", "), out.display());
    Ok(())
}

/// Image files as a batch of the model's input shape.
fn image_batch(model: &Model, args: &PredictArgs) -> Result<Tensor> {
    let shape = model.input_shape().map(|s| s.to_vec()).unwrap_or_default();
    let [h, w, c] = shape[..] else {
        return Err(Error::argument("IMAGE", format!("model '{}' takes inputs of shape {shape:?}, not images (height, width, channels)", model.name())));
    };
    let options = ImageOptions { image_size: Some((h, w)), color_mode: ColorMode::from_channels(c)?, scale: args.scale };
    let mut values = Vec::new();
    for path in &args.files {
        values.extend(images::load_image(path, &options)?.to_vec());
    }
    Tensor::new(values, &[args.files.len(), h, w, c])
}

/// The sample rate a model's `MelSpectrogram` layer declares, if it has one (and it is 1 Hz to 1 MHz).
fn model_sample_rate(model: &Model) -> Option<u32> {
    fn find(v: &serde_json::Value) -> Option<f64> {
        match v {
            serde_json::Value::Object(m) if m.get("class_name").and_then(|c| c.as_str()) == Some("MelSpectrogram") => m.get("config")?.get("sampling_rate")?.as_f64(),
            serde_json::Value::Object(m) => m.values().find_map(find),
            serde_json::Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    find(&model.to_json()).map(|r| r.round() as u32).filter(|&r| (1..=1_000_000).contains(&r))
}

/// WAV files as a batch of the model's input: one channel at the model's
/// rate (`--sample-rate`, else its `MelSpectrogram`'s), cut or zero-padded
/// to its input length.
fn recording_batch(model: &Model, args: &PredictArgs) -> Result<Tensor> {
    let shape = model.input_shape().map(|s| s.to_vec()).unwrap_or_default();
    let (&[length] | &[length, 1]) = &shape[..] else {
        return Err(Error::argument("WAV", format!("model '{}' takes inputs of shape {shape:?}, not raw audio (samples,) or (samples, 1)", model.name())));
    };
    let rate = args.sample_rate.map(|r| r as u32).or_else(|| model_sample_rate(model)).ok_or_else(|| {
        Error::argument("--sample-rate", format!("model '{}' has no MelSpectrogram layer with a rate from 1 Hz to 1 MHz to tell its sample rate: give --sample-rate", model.name()))
    })?;
    let mut values = Vec::new();
    let total = args.files.len().checked_mul(length).filter(|&n| values.try_reserve_exact(n).is_ok());
    if total.is_none() {
        return Err(Error::argument("WAV", format!("{} recordings of the model's {length} samples do not fit in memory", args.files.len())));
    }
    for path in &args.files {
        let (samples, _) = audio::load_mono(path, Some(rate), Some(length + 1))?;
        if samples.len() > length {
            eprintln!("{}: longer than the model's {length} samples at {rate} Hz: it hears the first {length}", path.display());
        }
        values.extend(audio::fit_length(samples, length));
    }
    let batch_shape: Vec<usize> = std::iter::once(args.files.len()).chain(shape).collect();
    Tensor::new(values, &batch_shape)
}

/// Prints the most likely classes of each file (image or recording).
fn predict_files(model: &mut Model, args: &PredictArgs) -> Result<()> {
    let kind = |p: &PathBuf| ["wav", "txt"].into_iter().find(|k| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(k))).unwrap_or("image");
    let x = match args.files.iter().map(kind).reduce(|a, b| if a == b { a } else { "mixed" }) {
        Some("wav") => recording_batch(model, args)?,
        Some("txt") => model.vectorize(&args.files.iter().map(|f| strata::data::text::read_text(f)).collect::<Result<Vec<_>>>()?)?,
        Some("mixed") => return Err(Error::argument("FILES", "give images, WAV recordings or .txt files, one kind in one call")),
        _ => image_batch(model, args)?,
    };
    let p = model.predict(&x, args.batch_size as usize)?.to_vec();
    let classes = p.len() / args.files.len();
    if classes == 0 {
        return Err(Error::argument("--model", format!("model '{}' outputs no class scores", model.name())));
    }
    let name = |k: usize| args.class_names.get(k).cloned().unwrap_or_else(|| k.to_string());
    let mut report = Vec::new();
    for (path, row) in args.files.iter().zip(p.chunks(classes)) {
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let top: Vec<(String, f32)> = order.iter().take(args.top as usize).map(|&k| (name(k), row[k])).collect();
        if args.json {
            let top_json: Vec<_> = top.iter().map(|(k, p)| json!({ "class": k, "probability": p })).collect();
            report.push(json!({ "file": path.display().to_string(), "label": top[0].0, "probability": top[0].1, "top": top_json }));
        } else {
            let text: Vec<String> = top.iter().map(|(k, p)| format!("{k} {p:.4}")).collect();
            println!("{}: {}", path.display(), text.join(", "));
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(report));
    }
    Ok(())
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// A model saved by Strata.
    #[arg(long)]
    model: PathBuf,
    /// A folder of MNIST-format IDX files (its test split is used). Without
    /// --data, --dataset or --x/--y: the bundled MNIST sample's test split.
    #[arg(long, conflicts_with_all = ["dataset", "x", "y"])]
    data: Option<PathBuf>,
    /// A dataset by name, `mnist` or `fashion-mnist`, as `strata train` takes it (its test split is used).
    #[arg(long, conflicts_with_all = ["x", "y"])]
    dataset: Option<String>,
    /// Inputs (.npy).
    #[arg(long)]
    x: Option<PathBuf>,
    /// Targets (.npy).
    #[arg(long)]
    y: Option<PathBuf>,
    /// A UTF-8 text file, for a language model (its first layer a TextVectorization):
    /// the mean loss of each next token, in nats (`loss`; per character for a character model).
    #[arg(long, conflicts_with_all = ["data", "dataset", "x", "y", "confusion_matrix", "misclassified"])]
    text: Option<PathBuf>,
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    #[arg(long)]
    json: bool,
    /// Also draw the confusion matrix, with per-class precision and recall, to this .png or .svg file.
    #[arg(long)]
    confusion_matrix: Option<PathBuf>,
    /// Also draw a grid of misclassified examples (true and predicted labels) to this .png or .svg file.
    #[arg(long)]
    misclassified: Option<PathBuf>,
    /// How many misclassified examples the grid shows (the first ones).
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u64).range(1..))]
    misclassified_count: u64,
    /// Class names in label order, comma-separated, for the plots (default: the class ids).
    #[arg(long, value_delimiter = ',')]
    class_names: Vec<String>,
}

/// Targets for the test split in the form the model's loss expects.
fn idx_targets(model: &Model, labels: &strata::data::mnist::Split) -> Result<Tensor> {
    let sparse = model.loss().is_some_and(|l| l.name().starts_with("sparse"));
    let classes = model.output_shape().and_then(|s| s.last().copied()).unwrap_or(10);
    if sparse { Ok(labels.label_tensor()) } else { labels.one_hot(classes) }
}

pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    if let Some(file) = &args.text {
        return crate::text::evaluate_text(&args.model, file, args.batch_size as usize, args.json);
    }
    for (flag, path) in [("--confusion-matrix", &args.confusion_matrix), ("--misclassified", &args.misclassified)] {
        if let Some(path) = path {
            crate::checks::writable(flag, path)?;
        }
    }
    let mut model = Model::load(&args.model)?;
    if model.optimizer().is_none() {
        return Err(Error::argument("--model", "the model has no compile_config (loss), so it cannot be evaluated"));
    }
    let test_split = |data: strata::data::mnist::Mnist, source: &str| -> Result<(Tensor, Tensor)> {
        let y = idx_targets(&model, &data.test).map_err(|e| Error::data(source, e.to_string()))?;
        Ok((data.test.images, y))
    };
    let (x, y) = match (&args.data, &args.dataset, &args.x, &args.y) {
        (None, None, Some(x), Some(y)) => (npy::read(x)?, npy::read(y)?),
        (_, _, Some(_), None) | (_, _, None, Some(_)) => return Err(Error::argument("--x/--y", "give both --x X.npy and --y Y.npy")),
        (Some(dir), _, _, _) => test_split(strata::datasets::load_idx_dir(dir)?, &dir.display().to_string())?,
        (None, Some(name), _, _) => test_split(strata::datasets::load_idx_dir(&strata::datasets::fetch(&strata::datasets::published(name)?)?)?, name)?,
        (None, None, None, None) => test_split(strata::datasets::mnist_sample()?, "bundled mnist-10k sample")?,
    };
    let logs = model.evaluate(&x, &y, args.batch_size as usize)?;
    if args.confusion_matrix.is_some() || args.misclassified.is_some() {
        let scores = model.predict(&x, args.batch_size as usize)?;
        if let Some(path) = &args.confusion_matrix {
            crate::plot::confusion_matrix(&scores, &y, &args.class_names, path)?;
            eprintln!("Wrote the confusion matrix to {}", path.display());
        }
        if let Some(path) = &args.misclassified {
            let wrong = crate::plot::misclassified(&x, &scores, &y, &args.class_names, args.misclassified_count as usize, path)?;
            eprintln!("Wrote {} of {wrong} misclassified examples to {}", wrong.min(args.misclassified_count as usize), path.display());
        }
    }
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = logs.0.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        println!("{} samples - {}", x.shape()[0], logs.describe());
    }
    Ok(())
}

pub fn inspect(path: PathBuf) -> Result<()> {
    let mut model = Model::load(&path)?;
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
