//! `GaussianNoise` and `GaussianDropout`: noise added or multiplied in
//! training, nothing at inference.

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::super::random::{random_stream_methods, seed_field, RandomStream};
use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;

/// The two layers differ in their parameter and in how the noise meets the input.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `x + N(0, stddev)`.
    Noise,
    /// `x · N(1, sqrt(rate / (1 - rate)))`.
    Dropout,
}

/// Keras's `GaussianNoise(stddev)` (`x + N(0, stddev²)` in training) and
/// `GaussianDropout(rate)` (`x · N(1, rate / (1 - rate))` in training).
///
/// # Shapes
/// output shape = input shape.
pub struct Gaussian {
    base: LayerBase,
    kind: Kind,
    /// `stddev` or `rate`, in `[0, 1]`.
    amount: f32,
    stream: RandomStream,
    built: Option<Vec<usize>>,
}

/// Adds zero-mean Gaussian noise of `stddev` in training (Keras's `GaussianNoise`).
pub struct GaussianNoise;
/// Multiplies by one-mean Gaussian noise in training (Keras's `GaussianDropout`).
pub struct GaussianDropout;

impl GaussianNoise {
    /// `stddev` in `[0, 1]`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(stddev: f32) -> Gaussian {
        Gaussian::new(Kind::Noise, stddev)
    }
}

impl GaussianDropout {
    /// `rate` in `[0, 1]`: the noise's variance is `rate / (1 - rate)`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(rate: f32) -> Gaussian {
        Gaussian::new(Kind::Dropout, rate)
    }
}

impl Gaussian {
    fn new(kind: Kind, amount: f32) -> Gaussian {
        let class = if kind == Kind::Noise { "GaussianNoise" } else { "GaussianDropout" };
        Gaussian { base: LayerBase::new(class), kind, amount, stream: RandomStream::default(), built: None }
    }
    /// Seeds this layer's own stream (default: drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.stream.seed = Some(seed);
        self
    }
    fn parameter(&self) -> &'static str {
        if self.kind == Kind::Noise { "stddev" } else { "rate" }
    }
}

impl Layer for Gaussian {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        if self.kind == Kind::Noise { "GaussianNoise" } else { "GaussianDropout" }
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if !(0.0..=1.0).contains(&self.amount) {
            return Err(Error::layer(&self.base.name, format!("{} needs {} between 0 and 1, received {}={}", self.class_name(), self.parameter(), self.parameter(), self.amount)));
        }
        self.stream.start(rng);
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        if !training || self.amount == 0.0 || (self.kind == Kind::Dropout && self.amount >= 1.0) {
            return Ok(x.clone());
        }
        let (mean, stddev) = match self.kind {
            Kind::Noise => (0.0, self.amount),
            Kind::Dropout => (1.0, (self.amount / (1.0 - self.amount)).sqrt()),
        };
        let rows = x.shape()[0];
        let noise = Tensor::new(self.stream.draw_rows(&self.base.name, rows, x.numel() / rows.max(1), |rng| mean + stddev * rng.normal())?, x.shape())?;
        match self.kind {
            Kind::Noise => x.add(&noise),
            Kind::Dropout => x.mul(&noise),
        }
    }
    random_stream_methods!();
    fn own_config(&self) -> Value {
        json!({ self.parameter(): self.amount, "seed": self.stream.seed })
    }
}

impl Gaussian {
    /// Reads Keras's config of `GaussianNoise`.
    pub(crate) fn noise_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Self::from_config(Kind::Noise, l, config)
    }
    /// Reads Keras's config of `GaussianDropout`.
    pub(crate) fn dropout_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Self::from_config(Kind::Dropout, l, config)
    }
    fn from_config(kind: Kind, l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = Gaussian::new(kind, 0.0);
        let v = cfg::field(l, config, layer.parameter())?;
        layer.amount = v.as_f64().ok_or_else(|| cfg::bad(l, layer.parameter(), "a number", v))? as f32;
        layer.stream.seed = seed_field(l, config)?;
        Ok(Box::new(layer))
    }
}
