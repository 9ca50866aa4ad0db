//! `strata bench`: training and inference speed of fixed benchmark models,
//! with achieved GFLOP/s, peak memory and a per-layer profile.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};
use strata::applications::{char_gru, char_lstm, dense_mlp, executed_layer_flops, headline_cnn, layer_flops, CHARACTER_IDS};
use strata::core::profile;
use strata::model::Sequential;
use strata::{Error, Result, Tensor};

use crate::profile::{round3, Profile};
use crate::train::{load, median, peak_rss_mb};

#[derive(Args)]
pub struct BenchArgs {
    /// Folder with the four MNIST-format IDX files; default: the bundled 10k MNIST sample.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which models: headline (batch 32), headline128 (batch 128), dense (784-512-512-10, batch 128),
    /// lstm and gru (the char_lm example's model on random windows of 100 ids, batch 64), or all.
    #[arg(long, default_value = "all")]
    model: String,
    /// Timed training steps per model (split into 5 rounds; the median round is reported).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(5..))]
    steps: u64,
    /// Worker threads (default: STRATA_THREADS, else the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
    /// Print one JSON object on standard output instead of tables.
    #[arg(long)]
    json: bool,
    /// Time single-sample inference instead (p50 and p99 over --calls calls), of the
    /// chosen benchmark models or of a saved model (--model-file).
    #[arg(long)]
    latency: bool,
    /// With --latency: how many timed calls.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    calls: u64,
    /// First measure this machine's limits (f32 multiply-add throughput, the `gemm` crate's
    /// 1024^3 SGEMM, on the configured threads) and give each model's executed GFLOP/s as a
    /// share of the SGEMM figure; with --model none, only the limits.
    #[arg(long)]
    peak: bool,
    /// With --latency: a model saved by Strata instead of the benchmark models.
    #[arg(long, requires = "latency")]
    model_file: Option<PathBuf>,
}

struct Case {
    name: &'static str,
    batch: usize,
    build: fn(u64) -> Result<Sequential>,
    /// Windows of character ids instead of the images.
    text: bool,
}

const CASES: [Case; 5] = [
    Case { name: "headline", batch: 32, build: headline_cnn, text: false },
    Case { name: "headline128", batch: 128, build: headline_cnn, text: false },
    Case { name: "dense", batch: 128, build: dense_mlp, text: false },
    Case { name: "lstm", batch: 64, build: char_lstm, text: true },
    Case { name: "gru", batch: 64, build: char_gru, text: true },
];

/// 1,024 windows of 100 random character ids (seeded), each one's next ids
/// as its targets: what the character models train on, at the same speed as text.
fn character_windows() -> Result<(Tensor, Tensor)> {
    let mut rng = strata::Rng::new(1);
    let ids: Vec<f32> = (0..1024 * 101).map(|_| (2 + rng.below(CHARACTER_IDS - 2)) as f32).collect();
    let x: Vec<f32> = ids.chunks(101).flat_map(|w| w[..100].to_vec()).collect();
    let y: Vec<f32> = ids.chunks(101).flat_map(|w| w[1..].to_vec()).collect();
    Ok((Tensor::new(x, &[1024, 100])?, Tensor::new(y, &[1024, 100])?))
}

/// Runs `steps` training steps over consecutive batches starting at batch `first`.
fn train_steps(model: &mut Sequential, x: &Tensor, y: &Tensor, batch: usize, first: usize, steps: usize) -> Result<()> {
    let n = x.shape()[0];
    for s in 0..steps {
        let start = ((first + s) * batch) % (n - batch + 1);
        let rows: Vec<usize> = (start..start + batch).collect();
        model.train_on_batch(&x.gather_rows(&rows)?, &y.gather_rows(&rows)?)?;
    }
    Ok(())
}

fn run_case(case: &Case, args: &BenchArgs, x: &Tensor, y: &Tensor, x_test: &Tensor, sgemm: Option<f64>) -> Result<Value> {
    let mut model = (case.build)(0)?;
    if x.shape()[0] < case.batch {
        return Err(Error::argument("--data", format!("needs at least {} training samples", case.batch)));
    }
    // Nominal FLOPs (what the model asks for), and what Strata executes.
    let nominal = layer_flops(&mut model)?;
    let weighted: Vec<bool> = model.layers().iter().map(|l| !l.weights().is_empty()).collect();
    let (forward, train_flops) = flops(nominal.iter().map(|&f| (f, f)), &weighted);
    let (forward_done, dense_done) = flops(executed_layer_flops(&mut model)?.into_iter(), &weighted);
    let steps = args.steps as usize;
    train_steps(&mut model, x, y, case.batch, 0, 10)?;
    profile::take_skipped_flops();
    let mut rates = Vec::new();
    for round in 0..5 {
        let started = Instant::now();
        train_steps(&mut model, x, y, case.batch, 10 + round * steps / 5, steps / 5)?;
        rates.push((steps / 5 * case.batch) as f64 / started.elapsed().as_secs_f64());
    }
    let train_rate = median(&rates);
    // Less what the backward passes skipped (gradients known to be zero), as counted in those steps.
    let train_done = dense_done - profile::take_skipped_flops() as f64 / (steps / 5 * 5 * case.batch).max(1) as f64;

    model.predict(x_test, 1000)?;
    let mut infer = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        model.predict(x_test, 1000)?;
        infer.push(x_test.shape()[0] as f64 / started.elapsed().as_secs_f64());
    }
    let infer_rate = median(&infer);

    profile::take();
    profile::set_enabled(true);
    let profiled = 50;
    train_steps(&mut model, x, y, case.batch, 0, profiled)?;
    profile::set_enabled(false);
    let layers: Vec<String> = model.layers().iter().map(|l| l.name().to_string()).collect();
    let prof = Profile::new(&profile::take(), &layers, profiled);

    if !args.json {
        println!(
            "\n{} (batch {}): train {:.0} samples/s ({:.1} GFLOP/s executed, {:.1} nominal), inference {:.0} samples/s ({:.1} executed, {:.1} nominal), rounds {:?}",
            case.name, case.batch, train_rate, train_rate * train_done / 1e9, train_rate * train_flops / 1e9,
            infer_rate, infer_rate * forward_done / 1e9, infer_rate * forward / 1e9,
            rates.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
        if case.text {
            println!("  = {:.0} characters/s in training, {:.0} in inference", train_rate * 100.0, infer_rate * 100.0);
        }
        if let Some(peak) = sgemm {
            println!("  = {:.0}% of the measured SGEMM peak in training (executed), {:.0}% in inference", 100.0 * train_rate * train_done / 1e9 / peak, 100.0 * infer_rate * forward_done / 1e9 / peak);
        }
        print!("{}", prof.table());
    }
    Ok(json!({
        "model": case.name,
        "batch_size": case.batch,
        "params": model.count_params(),
        "forward_mflop_per_sample": round3(forward / 1e6),
        "train_mflop_per_sample": round3(train_flops / 1e6),
        "train_samples_per_second": train_rate.round(),
        "train_rounds": rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
        "train_gflops": round3(train_rate * train_flops / 1e9),
        "infer_samples_per_second": infer_rate.round(),
        "infer_gflops": round3(infer_rate * forward / 1e9),
        "train_gflops_executed": round3(train_rate * train_done / 1e9),
        "infer_gflops_executed": round3(infer_rate * forward_done / 1e9),
        "train_characters_per_second": if case.text { json!((train_rate * 100.0).round()) } else { Value::Null },
        "train_share_of_sgemm_peak": sgemm.map(|p| round3(train_rate * train_done / 1e9 / p)),
        "infer_share_of_sgemm_peak": sgemm.map(|p| round3(infer_rate * forward_done / 1e9 / p)),
        "peak_rss_mb": peak_rss_mb(),
        "profile": prof.json(),
    }))
}

/// This machine's f32 multiply-add and SGEMM throughput on the pool's threads.
fn measure_peak(json_out: bool) -> Value {
    use strata::core::kernels::{peak, tile};
    let (fma, fma_one) = peak::fma_gflops(5);
    let sgemm = peak::sgemm_gflops(1024, 5);
    let tiles = match tile::isa() {
        Some(isa) => format!("{isa:?}"),
        None => "none (im2col + gemm)".to_string(),
    };
    if !json_out {
        println!(
            "peak: f32 multiply-add {fma:.1} GFLOP/s on {} threads ({fma_one:.1} on one); gemm crate's 1024^3 SGEMM {sgemm:.1} GFLOP/s ({:.0}% of the multiply-add peak); convolution tiles: {tiles}",
            strata::core::threads::num_threads(),
            100.0 * sgemm / fma
        );
    }
    json!({ "fma_gflops": round3(fma), "fma_gflops_one_thread": round3(fma_one), "sgemm_gflops": round3(sgemm), "tiles": tiles })
}

/// Forward and training FLOPs per sample from per-layer (forward, backward
/// product) FLOPs and whether each layer has weights: a training step is
/// each layer's forward product and its two backward products, except the
/// input gradient of the first layer with products when no layer before it
/// has weights (nothing needs it; an `Embedding` before it does).
fn flops(per_layer: impl Iterator<Item = (f64, f64)>, weighted: &[bool]) -> (f64, f64) {
    let per_layer: Vec<(f64, f64)> = per_layer.collect();
    let forward: f64 = per_layer.iter().map(|l| l.0).sum();
    let backward: f64 = per_layer.iter().map(|l| l.1).sum();
    let first = per_layer.iter().position(|l| l.1 > 0.0);
    let unneeded = match first {
        Some(i) if !weighted[..i].iter().any(|&w| w) => per_layer[i].1,
        _ => 0.0,
    };
    (forward, forward + 2.0 * backward - unneeded)
}

pub fn run(args: BenchArgs) -> Result<()> {
    crate::train::set_threads(args.threads)?;
    let (data, source) = load(&args.data)?;
    let (x, y) = (&data.train.images, data.train.one_hot(10)?);
    let cases: Vec<&Case> = CASES.iter().filter(|c| args.model == "all" || args.model == c.name).collect();
    if cases.is_empty() && !(args.model == "none" && args.peak) {
        return Err(Error::argument("--model", format!("unknown model '{}' (known: headline, headline128, dense, lstm, gru, all; none with --peak)", args.model)));
    }
    if !args.json {
        println!("strata bench on {source}: {} threads, {} timed steps per model", strata::core::threads::num_threads(), args.steps);
    }
    let peak = args.peak.then(|| measure_peak(args.json));
    let sgemm = peak.as_ref().map(|p| p["sgemm_gflops"].as_f64().unwrap_or(f64::NAN));
    let mut results = Vec::new();
    if args.latency {
        if let Some(path) = &args.model_file {
            let mut model = strata::model::Model::load(path)?;
            results.push(crate::latency::measure(&mut model, &path.display().to_string(), &data.test.images, args.calls as usize, args.json)?);
        }
        // headline128 is the headline model again: its latency is the same.
        for case in cases.iter().filter(|c| args.model_file.is_none() && c.name != "headline128") {
            let mut model = (case.build)(0)?.into_model();
            results.push(crate::latency::measure(&mut model, case.name, &data.test.images, args.calls as usize, args.json)?);
        }
        if args.json {
            println!("{}", json!({ "framework": "strata", "threads": strata::core::threads::num_threads(), "latency": results }));
        }
        return Ok(());
    }
    let windows = match cases.iter().any(|c| c.text) {
        true => Some(character_windows()?),
        false => None,
    };
    for case in cases {
        match (&windows, case.text) {
            (Some((wx, wy)), true) => results.push(run_case(case, &args, wx, wy, &wx.gather_rows(&(0..256).collect::<Vec<_>>())?, sgemm)?),
            _ => results.push(run_case(case, &args, x, &y, &data.test.images, sgemm)?),
        }
    }
    if args.json {
        println!("{}", json!({ "framework": "strata", "data": source, "threads": strata::core::threads::num_threads(), "peak": peak, "models": results }));
    }
    Ok(())
}
