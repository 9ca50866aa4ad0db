//! Weight initializers with Keras's names and formulas. All draw from the
//! model's seeded [`Rng`], so a seed fixes every initial weight.

use serde_json::{json, Value};
use strata_core::Rng;

use crate::registry::Registry;

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
    RandomUniform {
        /// Lower bound, included (Keras's default -0.05).
        min: f32,
        /// Upper bound, excluded (Keras's default 0.05).
        max: f32,
    },
    /// Normal with `mean` and `stddev` (Keras default 0, 0.05).
    RandomNormal {
        /// Mean of the distribution (Keras's default 0).
        mean: f32,
        /// Standard deviation (Keras's default 0.05).
        stddev: f32,
    },
    /// Uniform in ±√(6 / (fan_in + fan_out)) (Keras's default for kernels).
    GlorotUniform,
    /// Truncated normal with stddev √(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// Uniform in ±√(6 / fan_in).
    HeUniform,
    /// Truncated normal with stddev √(2 / fan_in).
    HeNormal,
    /// Uniform in ±√(3 / fan_in).
    LecunUniform,
    /// Truncated normal with stddev √(1 / fan_in).
    LecunNormal,
    /// Normal with `mean` and `stddev`, redrawn beyond two standard deviations (Keras default 0, 0.05).
    TruncatedNormal {
        /// Mean of the distribution (Keras's default 0).
        mean: f32,
        /// Standard deviation before truncation (Keras's default 0.05).
        stddev: f32,
    },
    /// Keras's general form: variance `scale / fan` drawn from `distribution`.
    VarianceScaling {
        /// Numerator of the variance (Keras's default 1).
        scale: f32,
        /// Which fan divides `scale` (Keras's default `fan_in`).
        mode: FanMode,
        /// The distribution drawn from (Keras's default `truncated_normal`).
        distribution: Distribution,
    },
    /// A (semi-)orthogonal matrix times `gain`, for the kernel flattened to `(prod(shape[..-1]), shape[-1])`.
    Orthogonal {
        /// Factor applied to the orthogonal matrix (Keras's default 1).
        gain: f32,
    },
    /// The identity matrix times `gain` (2-D weights only; rectangular ones get ones on the diagonal).
    Identity {
        /// Value on the diagonal (Keras's default 1).
        gain: f32,
    },
    /// An initializer of one's own, by the name it was registered under
    /// ([`register_initializer`]).
    Custom(&'static str),
}

/// The user's own initializers, by name.
static CUSTOM: Registry<InitializerFn> = Registry::new();

/// An initializer of one's own: the values of a tensor of a shape, drawn from the model's stream.
type InitializerFn = dyn Fn(&[usize], &mut Rng) -> Vec<f32> + Send + Sync;

/// Registers an initializer of one's own under `name` (`f(shape, rng)` gives
/// the tensor's values, row-major) and returns it; models using it save and
/// load (Keras's `custom_objects`).
pub fn register_initializer(name: &str, f: impl Fn(&[usize], &mut Rng) -> Vec<f32> + Send + Sync + 'static) -> Initializer {
    Initializer::Custom(CUSTOM.register(name, std::sync::Arc::new(f)))
}

/// A registered initializer named `class`, if there is one.
pub(crate) fn custom(class: &str) -> Option<Initializer> {
    CUSTOM.get(class).map(|(name, _)| Initializer::Custom(name))
}

/// Which fan [`Initializer::VarianceScaling`] divides by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// Input units of the weight (`fan_in`).
    FanIn,
    /// Output units of the weight (`fan_out`).
    FanOut,
    /// The mean of the two (`fan_avg`).
    FanAvg,
}

/// What [`Initializer::VarianceScaling`] draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// A normal truncated at two standard deviations, scaled so that the
    /// result has the requested variance (`truncated_normal`, also read from `normal`).
    TruncatedNormal,
    /// A plain normal (`untruncated_normal`).
    UntruncatedNormal,
    /// Uniform in `±√(3 · variance)` (`uniform`).
    Uniform,
}

impl FanMode {
    /// Keras's name for the mode: `fan_in`, `fan_out` or `fan_avg`.
    pub fn name(self) -> &'static str {
        match self {
            FanMode::FanIn => "fan_in",
            FanMode::FanOut => "fan_out",
            FanMode::FanAvg => "fan_avg",
        }
    }
    /// The mode of a Keras name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<FanMode> {
        [FanMode::FanIn, FanMode::FanOut, FanMode::FanAvg].into_iter().find(|m| m.name() == name)
    }
}

impl Distribution {
    /// Keras's name for the distribution: `truncated_normal`, `untruncated_normal` or `uniform`.
    pub fn name(self) -> &'static str {
        match self {
            Distribution::TruncatedNormal => "truncated_normal",
            Distribution::UntruncatedNormal => "untruncated_normal",
            Distribution::Uniform => "uniform",
        }
    }
    /// The distribution of a Keras name (`normal` reads as `truncated_normal`,
    /// as in Keras); `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Distribution> {
        [Distribution::TruncatedNormal, Distribution::UntruncatedNormal, Distribution::Uniform].into_iter().find(|d| d.name() == name || (name == "normal" && *d == Distribution::TruncatedNormal))
    }
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

/// `n` values with variance `scale / fan`, as Keras's `VarianceScaling`.
fn variance_scaling(n: usize, shape: &[usize], scale: f32, mode: FanMode, distribution: Distribution, rng: &mut Rng) -> Vec<f32> {
    let (fan_in, fan_out) = fans(shape);
    let fan = match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
        FanMode::FanAvg => (fan_in + fan_out) / 2.0,
    };
    let variance = scale / fan.max(1.0);
    match distribution {
        Distribution::TruncatedNormal => (0..n).map(|_| truncated_normal(rng) * variance.sqrt() / TRUNCATION_STDDEV_FACTOR).collect(),
        Distribution::UntruncatedNormal => (0..n).map(|_| rng.normal() * variance.sqrt()).collect(),
        Distribution::Uniform => {
            let limit = (3.0 * variance).sqrt();
            (0..n).map(|_| rng.uniform_range(-limit, limit)).collect()
        }
    }
}

/// A `(rows, cols)` matrix with orthonormal columns (rows >= cols) or rows,
/// from the QR decomposition of a normal sample with the signs fixed as Keras does.
fn orthogonal(rows: usize, cols: usize, gain: f32, rng: &mut Rng) -> Vec<f32> {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    // Columns of a tall x short normal matrix, orthonormalised (modified Gram-Schmidt, in f64).
    let mut q: Vec<Vec<f64>> = (0..short).map(|_| (0..tall).map(|_| rng.normal() as f64).collect()).collect();
    for j in 0..short {
        for i in 0..j {
            let dot: f64 = q[i].iter().zip(&q[j]).map(|(a, b)| a * b).sum();
            let (before, after) = q.split_at_mut(j);
            after[0].iter_mut().zip(&before[i]).for_each(|(v, u)| *v -= dot * u);
        }
        // The sign of R's diagonal is positive by construction, as Keras's sign correction makes it.
        let norm = q[j].iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        q[j].iter_mut().for_each(|v| *v /= norm);
    }
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            let v = if rows >= cols { q[c][r] } else { q[r][c] };
            out[r * cols + c] = gain * v as f32;
        }
    }
    out
}

impl Initializer {
    /// Values for a tensor of `shape`.
    pub fn sample(self, shape: &[usize], rng: &mut Rng) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let vs = |rng: &mut Rng, scale: f32, mode: FanMode, distribution: Distribution| variance_scaling(n, shape, scale, mode, distribution, rng);
        use {Distribution::*, FanMode::*};
        match self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant(v) => vec![v; n],
            Initializer::RandomUniform { min, max } => (0..n).map(|_| rng.uniform_range(min, max)).collect(),
            Initializer::RandomNormal { mean, stddev } => (0..n).map(|_| mean + stddev * rng.normal()).collect(),
            Initializer::TruncatedNormal { mean, stddev } => (0..n).map(|_| mean + stddev * truncated_normal(rng)).collect(),
            Initializer::GlorotUniform => vs(rng, 1.0, FanAvg, Uniform),
            Initializer::GlorotNormal => vs(rng, 1.0, FanAvg, TruncatedNormal),
            Initializer::HeUniform => vs(rng, 2.0, FanIn, Uniform),
            Initializer::HeNormal => vs(rng, 2.0, FanIn, TruncatedNormal),
            Initializer::LecunUniform => vs(rng, 1.0, FanIn, Uniform),
            Initializer::LecunNormal => vs(rng, 1.0, FanIn, TruncatedNormal),
            Initializer::VarianceScaling { scale, mode, distribution } => vs(rng, scale, mode, distribution),
            Initializer::Orthogonal { gain } => {
                let cols = shape.last().copied().unwrap_or(1).max(1);
                orthogonal(n / cols, cols, gain, rng)
            }
            Initializer::Identity { gain } => {
                let cols = shape.last().copied().unwrap_or(1).max(1);
                (0..n).map(|i| if i / cols == i % cols { gain } else { 0.0 }).collect()
            }
            // `check` refuses an unregistered one before a layer samples it.
            Initializer::Custom(name) => CUSTOM.get(name).map(|(_, f)| f(shape, rng)).unwrap_or_else(|| vec![0.0; n]),
        }
    }

    /// Fails for shapes the initializer cannot fill (Identity needs 2-D weights).
    pub fn check(self, shape: &[usize]) -> strata_core::Result<()> {
        match self {
            Initializer::Identity { .. } if shape.len() != 2 => Err(strata_core::Error::argument("Identity", format!("needs 2-D weights, got shape {}", strata_core::fmt_shape(shape)))),
            Initializer::Orthogonal { .. } if shape.len() < 2 => Err(strata_core::Error::argument("Orthogonal", format!("needs weights of rank 2 or more, got shape {}", strata_core::fmt_shape(shape)))),
            Initializer::Custom(name) => match CUSTOM.get(name) {
                Some((_, f)) if f(shape, &mut Rng::new(0)).len() != shape.iter().product::<usize>() => {
                    Err(strata_core::Error::argument(name, format!("gave the wrong number of values for shape {}", strata_core::fmt_shape(shape))))
                }
                Some(_) => Ok(()),
                None => Err(strata_core::Error::argument("initializer", format!("'{name}' is not registered (strata::initializers::register_initializer)"))),
            },
            _ => Ok(()),
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
            Initializer::LecunUniform => ("LecunUniform", json!({ "seed": null })),
            Initializer::LecunNormal => ("LecunNormal", json!({ "seed": null })),
            Initializer::TruncatedNormal { mean, stddev } => ("TruncatedNormal", json!({ "mean": mean, "stddev": stddev, "seed": null })),
            Initializer::VarianceScaling { scale, mode, distribution } => ("VarianceScaling", json!({ "scale": scale, "mode": mode.name(), "distribution": distribution.name(), "seed": null })),
            Initializer::Orthogonal { gain } => ("Orthogonal", json!({ "gain": gain, "seed": null })),
            Initializer::Identity { gain } => ("Identity", json!({ "gain": gain })),
            Initializer::Custom(name) => (name, json!({})),
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

    fn variance(w: &[f32]) -> f32 {
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32
    }

    #[test]
    fn the_variance_scaling_family_has_keras_variances() {
        let shape = [3, 3, 40, 60];
        let (fan_in, fan_out) = (360.0, 540.0);
        let cases = [
            (Initializer::LecunNormal, 1.0 / fan_in),
            (Initializer::LecunUniform, 1.0 / fan_in),
            (Initializer::GlorotNormal, 2.0 / (fan_in + fan_out)),
            (Initializer::VarianceScaling { scale: 2.0, mode: FanMode::FanOut, distribution: Distribution::UntruncatedNormal }, 2.0 / fan_out),
            (Initializer::VarianceScaling { scale: 0.5, mode: FanMode::FanAvg, distribution: Distribution::Uniform }, 0.5 / ((fan_in + fan_out) / 2.0)),
            (Initializer::TruncatedNormal { mean: 0.0, stddev: 0.05 }, 0.05f32.powi(2) * TRUNCATION_STDDEV_FACTOR.powi(2)),
        ];
        for (init, expected) in cases {
            let w = init.sample(&shape, &mut Rng::new(3));
            let v = variance(&w);
            assert!((v - expected).abs() < 0.04 * expected, "{init:?}: variance {v}, expected {expected}");
        }
        let w = Initializer::LecunUniform.sample(&shape, &mut Rng::new(3));
        assert!(w.iter().all(|v| v.abs() <= (3.0 / fan_in).sqrt()));
        let w = Initializer::TruncatedNormal { mean: 1.0, stddev: 0.1 }.sample(&[1000], &mut Rng::new(3));
        assert!(w.iter().all(|v| (v - 1.0).abs() <= 0.2 + 1e-6));
    }

    #[test]
    fn orthogonal_and_identity() {
        for (rows, cols) in [(6, 4), (4, 6), (5, 5)] {
            let w = Initializer::Orthogonal { gain: 2.0 }.sample(&[rows, cols], &mut Rng::new(7));
            // W Wᵀ (rows <= cols) or Wᵀ W (rows >= cols) is gain² I.
            let (short, tall) = (rows.min(cols), rows.max(cols));
            for i in 0..short {
                for j in 0..short {
                    let dot: f32 = (0..tall).map(|k| if rows >= cols { w[k * cols + i] * w[k * cols + j] } else { w[i * cols + k] * w[j * cols + k] }).sum();
                    let expected = if i == j { 4.0 } else { 0.0 };
                    assert!((dot - expected).abs() < 1e-4, "{rows}x{cols} ({i}, {j}): {dot}");
                }
            }
        }
        assert_eq!(Initializer::Identity { gain: 3.0 }.sample(&[2, 3], &mut Rng::new(0)), vec![3.0, 0.0, 0.0, 0.0, 3.0, 0.0]);
        assert!(Initializer::Identity { gain: 1.0 }.check(&[2, 2, 2]).is_err());
    }

    #[test]
    fn he_normal_has_the_keras_variance() {
        let w = Initializer::HeNormal.sample(&[400, 300], &mut Rng::new(1));
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!((var - 2.0 / 400.0).abs() < 0.05 * 2.0 / 400.0, "variance {var}");
    }
}
