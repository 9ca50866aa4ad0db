//! Weight initializers with Keras's names and formulas. All draw from the
//! model's seeded [`Rng`], so a seed fixes every initial weight.

use serde_json::{json, Value};
use strata_core::Rng;

/// How a weight tensor gets its first values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    /// All zeros (Keras's default for biases).
    Zeros,
    /// All ones.
    Ones,
    /// Every element `value`.
    Constant(f32),
    /// Uniform in `[min, max)` (Keras default -0.05..0.05).
    RandomUniform { min: f32, max: f32 },
    /// Normal with `mean` and `stddev` (Keras default 0, 0.05).
    RandomNormal { mean: f32, stddev: f32 },
    /// Uniform in ±√(6 / (fan_in + fan_out)) (Keras's default for kernels).
    GlorotUniform,
    /// Truncated normal with stddev √(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// Uniform in ±√(6 / fan_in).
    HeUniform,
    /// Truncated normal with stddev √(2 / fan_in).
    HeNormal,
}

/// Fan-in and fan-out of a weight shape, as Keras computes them: a Dense
/// kernel is `(in, out)`, a convolution kernel `(..spatial, in, out)`.
pub fn fans(shape: &[usize]) -> (f32, f32) {
    match shape.len() {
        0 => (1.0, 1.0),
        1 => (shape[0] as f32, shape[0] as f32),
        n => {
            let receptive: usize = shape[..n - 2].iter().product();
            ((shape[n - 2] * receptive) as f32, (shape[n - 1] * receptive) as f32)
        }
    }
}

/// A normal sample redrawn until it lies within two standard deviations.
fn truncated_normal(rng: &mut Rng) -> f32 {
    loop {
        let z = rng.normal();
        if z.abs() <= 2.0 {
            return z;
        }
    }
}

/// Keras's correction so a normal truncated at ±2σ keeps the wanted variance.
const TRUNCATION_STDDEV_FACTOR: f32 = 0.879_625_7;

impl Initializer {
    /// Values for a tensor of `shape`.
    pub fn sample(self, shape: &[usize], rng: &mut Rng) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let (fan_in, fan_out) = fans(shape);
        let uniform = |rng: &mut Rng, limit: f32| (0..n).map(|_| rng.uniform_range(-limit, limit)).collect();
        let truncated = |rng: &mut Rng, std: f32| (0..n).map(|_| truncated_normal(rng) * std / TRUNCATION_STDDEV_FACTOR).collect();
        match self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant(v) => vec![v; n],
            Initializer::RandomUniform { min, max } => (0..n).map(|_| rng.uniform_range(min, max)).collect(),
            Initializer::RandomNormal { mean, stddev } => (0..n).map(|_| mean + stddev * rng.normal()).collect(),
            Initializer::GlorotUniform => uniform(rng, (6.0 / (fan_in + fan_out)).sqrt()),
            Initializer::GlorotNormal => truncated(rng, (2.0 / (fan_in + fan_out)).sqrt()),
            Initializer::HeUniform => uniform(rng, (6.0 / fan_in).sqrt()),
            Initializer::HeNormal => truncated(rng, (2.0 / fan_in).sqrt()),
        }
    }

    /// The Keras config (`{"class_name": "GlorotUniform", "config": {...}}`).
    pub fn config(self) -> Value {
        let (class, config) = match self {
            Initializer::Zeros => ("Zeros", json!({})),
            Initializer::Ones => ("Ones", json!({})),
            Initializer::Constant(v) => ("Constant", json!({ "value": v })),
            Initializer::RandomUniform { min, max } => ("RandomUniform", json!({ "minval": min, "maxval": max, "seed": null })),
            Initializer::RandomNormal { mean, stddev } => ("RandomNormal", json!({ "mean": mean, "stddev": stddev, "seed": null })),
            Initializer::GlorotUniform => ("GlorotUniform", json!({ "seed": null })),
            Initializer::GlorotNormal => ("GlorotNormal", json!({ "seed": null })),
            Initializer::HeUniform => ("HeUniform", json!({ "seed": null })),
            Initializer::HeNormal => ("HeNormal", json!({ "seed": null })),
        };
        json!({ "module": "keras.initializers", "class_name": class, "config": config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_uniform_respects_its_limit() {
        let shape = [3, 3, 32, 64];
        let limit = (6.0f32 / (288.0 + 576.0)).sqrt();
        let w = Initializer::GlorotUniform.sample(&shape, &mut Rng::new(0));
        assert_eq!(w.len(), 3 * 3 * 32 * 64);
        assert!(w.iter().all(|v| v.abs() <= limit));
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.95 * limit);
    }

    #[test]
    fn he_normal_has_the_keras_variance() {
        let w = Initializer::HeNormal.sample(&[400, 300], &mut Rng::new(1));
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!((var - 2.0 / 400.0).abs() < 0.05 * 2.0 / 400.0, "variance {var}");
    }
}
