//! `strata bench --latency`: single-sample inference, as a service answers
//! requests, timed call by call in this process.

use std::time::Instant;

use serde_json::{json, Value};
use strata::model::Model;
use strata::core::profile;
use strata::{Error, Result, Tensor};

use crate::profile::Profile;

/// Calls made before timing starts (caches, buffers and the thread pool warm up).
const WARM_UP: usize = 200;
/// Calls profiled layer by layer after the timed ones.
const PROFILED: usize = 500;

/// The `q` quantile (0..=1) of `sorted` values, by the nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One sample for `model`: the first test image for an image model, else
/// seeded values of each input's shape: in [0, 1), or, in a model with an
/// `Embedding`, whole-number ids below the smallest one's `input_dim` (an
/// id must be one; the character models' inputs are).
fn one_sample(model: &Model, image: &Tensor) -> Result<Vec<Tensor>> {
    let shapes = model.input_shapes();
    if shapes.is_empty() {
        return Err(Error::argument("--model-file", format!("model '{}' has no built inputs", model.name())));
    }
    let ids = model.layers().iter().filter(|l| l.class_name() == "Embedding").filter_map(|l| l.config()["input_dim"].as_u64()).min();
    let mut rng = strata::Rng::new(7);
    shapes
        .iter()
        .map(|shape| {
            let batch_shape: Vec<usize> = std::iter::once(1).chain(shape.iter().copied()).collect();
            if shape[..] == image.shape()[1..] {
                return image.gather_rows(&[0]);
            }
            let n = shape.iter().product();
            let mut value = || match ids {
                Some(ids) => rng.below(ids.max(1) as usize) as f32,
                None => rng.uniform(),
            };
            Tensor::new((0..n).map(|_| value()).collect(), &batch_shape)
        })
        .collect()
}

/// Times `calls` single-sample predictions of `model` (after a warm-up) and
/// reports p50, p99, mean and best in milliseconds.
pub fn measure(model: &mut Model, name: &str, image: &Tensor, calls: usize, json_out: bool) -> Result<Value> {
    let x = one_sample(model, image)?;
    for _ in 0..WARM_UP {
        model.predict_many(x.clone(), 1)?;
    }
    let mut ms = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let out = model.predict_many(x.clone(), 1)?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(out);
    }
    let mean = ms.iter().sum::<f64>() / calls as f64;
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (quantile(&ms, 0.5), quantile(&ms, 0.99));
    // Where the time goes: each layer's share, over calls timed apart from the figures above.
    profile::take();
    profile::set_enabled(true);
    for _ in 0..PROFILED {
        model.predict_many(x.clone(), 1)?;
    }
    profile::set_enabled(false);
    let layers: Vec<String> = model.layers().iter().map(|l| l.name().to_string()).collect();
    let mut prof = Profile::new(&profile::take(), &layers, PROFILED);
    prof.rows.retain(|r| r.1 + r.2 > 0.0);
    if !json_out {
        println!("\n{name}: one sample per call, {calls} calls after {WARM_UP} warm-up: p50 {p50:.4} ms, p99 {p99:.4} ms, mean {mean:.4} ms, best {:.4} ms", ms[0]);
        print!("{}", prof.table().replace("(per step)", "(per call, profiled)"));
    }
    let round = |v: f64| (v * 1e4).round() / 1e4;
    Ok(json!({
        "model": name,
        "calls": calls,
        "latency_ms_p50": round(p50),
        "latency_ms_p99": round(p99),
        "latency_ms_mean": round(mean),
        "latency_ms_best": round(ms[0]),
        "profile": prof.json(),
    }))
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_are_nearest_ranks() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
    }
}
