//! `strata train`: the headline CNN on the bundled sample or an IDX folder.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use strata::data::dataset::Dataset;
use strata::data::mnist::Mnist;
use strata::data::stream::IdxImages;
use strata::model::{FitOptions, ModelCheckpoint, Sequential};
use strata::{Error, Result};

use crate::checks;
use crate::profile::Profile;

#[derive(Args)]
pub struct TrainArgs {
    /// Folder with the four MNIST-format IDX files (e.g. Fashion-MNIST); default: the bundled 10k MNIST sample.
    #[arg(long, conflicts_with = "dataset")]
    data: Option<PathBuf>,
    /// A dataset by name, `mnist` or `fashion-mnist`: from the cache (STRATA_DATA), Debian's package, or downloaded.
    #[arg(long)]
    dataset: Option<String>,
    /// Read the images from disk batch by batch (memory stays flat in the dataset's size).
    #[arg(long)]
    stream: bool,
    /// Which model: `headline` (the founding document's CNN) or `dense` (784-512-512-10 MLP).
    #[arg(long, default_value = "headline", conflicts_with = "resume")]
    model: String,
    /// Number of epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Samples per gradient update.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Train on the first N training samples only.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    train_limit: Option<u64>,
    /// Seed for the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: STRATA_THREADS, else the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
    /// Fraction of the training samples held out to report validation loss and accuracy.
    #[arg(long, default_value_t = 0.0)]
    validation_split: f32,
    /// End with one JSON object on standard output (progress goes to standard error).
    #[arg(long)]
    json: bool,
    /// Save the trained model (architecture, weights, optimizer state, progress) to this file.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Save a checkpoint to this file after every epoch (resume with --resume).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue training from a checkpoint (a --save or --checkpoint file); --epochs is the last epoch.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Time every layer's forward and backward pass and print where the time goes.
    #[arg(long)]
    profile: bool,
    /// Watch training live on a web page served at this address (default 127.0.0.1:6070; port 0 picks a free one).
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:6070")]
    dashboard: Option<String>,
    /// Also append each epoch's logs to `DIR/<run name>.jsonl` (`strata dashboard --logdir DIR` shows them).
    #[arg(long)]
    logdir: Option<std::path::PathBuf>,
    /// The run's name on the dashboard and in --logdir (default: `run-<unix time>`).
    #[arg(long)]
    run_name: Option<String>,
}

/// The `--dashboard`/`--logdir` callback, showing predictions on the first test images.
fn dashboard(args: &TrainArgs, test: &Dataset) -> Result<Option<strata::dashboard::Dashboard>> {
    let mut d = match (&args.dashboard, &args.logdir) {
        (Some(addr), _) => strata::dashboard::Dashboard::serve(addr)?,
        (None, Some(_)) => strata::dashboard::Dashboard::on_board(strata::dashboard::Board::new()),
        (None, None) => return Ok(None),
    };
    if let Some(name) = &args.run_name {
        d = d.run_name(name);
    }
    if let Some(dir) = &args.logdir {
        d = d.logdir(dir)?;
    }
    if let Some(batch) = test.batches((0..test.len().min(16)).collect())?.next() {
        let batch = batch?;
        let n = batch.x().shape()[0];
        let labels = strata::plot::class_ids(batch.y(), n, 10)?;
        d = d.preview(batch.x(), &labels)?;
    }
    if let Some(url) = d.url() {
        eprintln!("Dashboard: {url}");
    }
    Ok(Some(d))
}

/// Sizes the thread pool from `--threads`, else `STRATA_THREADS`, else the
/// core count (under `mpirun`, the cores shared among the ranks on this
/// machine), with the main thread as one of its workers, so the model's
/// parallel loops run there without a hand-off. Called on the main thread.
pub fn set_threads(threads: Option<u64>) -> Result<()> {
    #[allow(unused_mut)]
    let mut n = threads.map(|n| n as usize);
    #[cfg(feature = "mpi")]
    if n.is_none() && std::env::var_os("STRATA_THREADS").is_none() {
        n = strata::distributed::mpi::threads_per_rank();
    }
    strata::core::threads::init_on_main(n)
}

pub fn load(data: &Option<PathBuf>) -> Result<(Mnist, String)> {
    match data {
        Some(dir) => Ok((strata::datasets::load_idx_dir(dir)?, dir.display().to_string())),
        None => Ok((strata::datasets::mnist_sample()?, "bundled mnist-10k sample".to_string())),
    }
}

/// The training and test sets, in memory or (`--stream`) read from disk, with their source's name.
fn datasets(args: &TrainArgs) -> Result<(Dataset, Dataset, String)> {
    let dir = match (&args.data, &args.dataset) {
        (_, Some(name)) => Some(strata::datasets::fetch(&strata::datasets::published(name)?)?),
        (dir, None) => dir.clone(),
    };
    let limit = args.train_limit.map(|n| n as usize).unwrap_or(usize::MAX);
    let batch = args.batch_size as usize;
    if args.stream {
        let dir = dir.ok_or_else(|| Error::argument("--stream", "needs --data DIR or --dataset NAME (the bundled sample is in memory already)"))?;
        let (train, test) = IdxImages::open_dir(&dir, 10, true)?;
        return Ok((Dataset::new(train).batch_size(batch).take(limit), Dataset::new(test).batch_size(1000), format!("{} (streamed)", dir.display())));
    }
    let (data, source) = load(&dir)?;
    let labels_error = |split: &str, e: Error| Error::data(&source, format!("{split} labels: {e}"));
    let train = if limit < data.train.len() { data.train.take(limit)? } else { data.train };
    let y_train = train.one_hot(10).map_err(|e| labels_error("train", e))?;
    let y_test = data.test.one_hot(10).map_err(|e| labels_error("test", e))?;
    Ok((Dataset::from_arrays(train.images, y_train)?.batch_size(batch), Dataset::from_arrays(data.test.images, y_test)?.batch_size(1000), source))
}

/// Peak resident memory of this process in MB (Linux), if known.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.validation_split) {
        return Err(Error::argument("--validation-split", format!("must be in [0, 1), got {}", args.validation_split)));
    }
    if let Some(path) = &args.save {
        checks::writable("--save", path)?;
    }
    if let Some(path) = &args.checkpoint {
        checks::checkpoint("--checkpoint", path)?;
    }
    if args.resume.is_none() {
        checks::epochs(args.epochs, 0)?;
    }
    set_threads(args.threads)?;
    let (train, test, source) = datasets(&args)?;
    let mut model = match (&args.resume, args.model.as_str()) {
        (Some(path), _) => Sequential::load(path)?,
        (None, "headline") => strata::applications::headline_cnn(args.seed)?,
        (None, "dense") => strata::applications::dense_mlp(args.seed)?,
        (None, other) => return Err(Error::argument("--model", format!("unknown model '{other}' (known: headline, dense)"))),
    };
    if model.optimizer().is_none() {
        return Err(Error::argument("--resume", "the checkpoint has no compile_config (optimizer and loss) to continue training with"));
    }
    let initial_epoch = model.epochs_trained();
    checks::epochs(args.epochs, initial_epoch)?;
    // Under mpirun, rank 0 prints, saves and serves; the others train alongside it.
    let primary = strata::distributed::is_primary();
    let ranks = strata::distributed::size();
    if !args.json && primary {
        model.summary()?;
    }
    let on = if ranks > 1 { format!(" on each of {ranks} ranks") } else { String::new() };
    match (&args.resume, primary) {
        (_, false) => {}
        (Some(path), true) => eprintln!("Resuming {} after epoch {initial_epoch} of {}; training on {} samples", path.display(), args.epochs, train.len()),
        (None, true) => eprintln!("Training on {} samples from {source} ({} threads{on})", train.len(), strata::core::threads::num_threads()),
    }
    let mut callbacks: Vec<Box<dyn strata::model::Callback>> = Vec::new();
    if let Some(path) = &args.checkpoint {
        callbacks.push(Box::new(ModelCheckpoint::new(path)));
    }
    if primary {
        if let Some(d) = dashboard(&args, &test)? {
            callbacks.push(Box::new(d));
        }
    }
    let options = FitOptions {
        epochs: args.epochs,
        batch_size: args.batch_size as usize,
        validation_split: args.validation_split,
        initial_epoch,
        callbacks,
        ..FitOptions::default()
    };
    strata::core::profile::set_enabled(args.profile);
    let history = model.fit_dataset(&train, options)?;
    strata::core::profile::set_enabled(false);
    let layers: Vec<String> = model.layers().iter().map(|l| l.name().to_string()).collect();
    let steps = history.epoch_seconds.len() * (train.len() as f64 * (1.0 - args.validation_split as f64)).ceil().max(1.0) as usize / args.batch_size as usize;
    let profile = args.profile.then(|| Profile::new(&strata::core::profile::take(), &layers, steps.max(1)));
    if let Some(p) = &profile {
        eprint!("\nPer-layer profile (milliseconds per training step):\n{}", p.table());
    }
    let ran = initial_epoch + history.epoch.len();
    if ran < args.epochs && primary {
        eprintln!("Training stopped after epoch {ran} of {}", args.epochs);
    }
    if let (Some(path), true) = (&args.save, primary) {
        model.save(path)?;
        eprintln!("Saved {}", path.display());
    }
    let started = Instant::now();
    let test_samples = test.len();
    let test = model.evaluate_dataset(&test)?;
    let eval_seconds = started.elapsed().as_secs_f64();
    let (test_loss, test_accuracy) = (test.get("loss").unwrap_or(f64::NAN), test.get("accuracy").unwrap_or(f64::NAN));
    let n_train = (train.len() as f64 * (1.0 - args.validation_split as f64)).ceil();
    let samples_per_second = n_train / median(&history.epoch_seconds).max(1e-9);
    let (reduce_seconds, reduce_steps) = strata::distributed::gradient_reduce_time();
    if !primary {
        return Ok(());
    }
    if args.json {
        let round = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
        let result = json!({
            "framework": "strata",
            "model": args.model,
            "version": env!("CARGO_PKG_VERSION"),
            "data": source,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "threads": strata::core::threads::num_threads(),
            "ranks": ranks,
            "gradient_reduce_ms_per_step": (reduce_steps > 0).then(|| round(reduce_seconds * 1e3 / reduce_steps as f64, 3)),
            "train_samples": n_train as usize,
            "test_samples": test_samples,
            "test_loss": round(test_loss, 5),
            "test_accuracy": round(test_accuracy, 5),
            "epoch_seconds": history.epoch_seconds.iter().map(|s| round(*s, 3)).collect::<Vec<_>>(),
            "samples_per_second": round(samples_per_second, 1),
            "infer_samples_per_second": round(test_samples as f64 / eval_seconds.max(1e-9), 1),
            "train_loss": history.get("loss").unwrap_or(&[]).iter().map(|v| round(*v, 5)).collect::<Vec<_>>(),
            "train_accuracy": history.get("accuracy").unwrap_or(&[]).iter().map(|v| round(*v, 5)).collect::<Vec<_>>(),
            "peak_rss_mb": peak_rss_mb().map(|m| round(m, 1)),
            "profile": profile.as_ref().map(|p| p.json()),
        });
        println!("{result}");
    } else {
        println!("Test loss: {test_loss:.4} - test accuracy: {test_accuracy:.4}");
        println!("Training speed: {samples_per_second:.0} samples/s (median epoch)");
    }
    Ok(())
}
