//! `RandomContrast` and `RandomBrightness`: one random factor per image,
//! then the result clipped to the images' value range (as Keras 3).

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::super::random::{random_stream_methods, seed_field, RandomStream};
use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use super::{image_shape, value_range_field, Factor, IntoFactor};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Contrast,
    Brightness,
}

/// A random per-image colour change; made by [`RandomContrast`] or [`RandomBrightness`].
///
/// # Shapes
/// output shape = input shape `(batch, height, width, channels)`.
pub struct RandomColor {
    base: LayerBase,
    kind: Kind,
    factor: Factor,
    value_range: (f32, f32),
    stream: RandomStream,
    built: Option<Vec<usize>>,
}

/// Scales each image's distance from its per-channel mean by a random
/// factor drawn from `[1 - lower, 1 + upper]` (Keras's `RandomContrast`).
pub struct RandomContrast;
/// Adds a random `f · (max - min)` of the value range to each image (Keras's `RandomBrightness`).
pub struct RandomBrightness;

impl RandomContrast {
    /// `factor` in `[0, 1]`. As in Keras 3, a number `f` draws from `[1, 1 + f]`
    /// (its lower bound is clamped to 0); the pair `(f, f)` draws from `[1 - f, 1 + f]`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(factor: impl IntoFactor) -> RandomColor {
        let number = factor.is_number();
        let Factor(low, high) = factor.into_factor();
        RandomColor::new(Kind::Contrast, Factor(if number { low.max(0.0) } else { low }, high))
    }
}

impl RandomBrightness {
    /// `factor` in `[-1, 1]`: a number `f` adds `[-f, f]` of the value range.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(factor: impl IntoFactor) -> RandomColor {
        RandomColor::new(Kind::Brightness, factor.into_factor())
    }
}

impl RandomColor {
    fn new(kind: Kind, factor: Factor) -> RandomColor {
        let class = if kind == Kind::Contrast { "RandomContrast" } else { "RandomBrightness" };
        RandomColor { base: LayerBase::new(class), kind, factor, value_range: (0.0, 255.0), stream: RandomStream::default(), built: None }
    }
    /// The images' range of values (default `(0, 255)`); outputs are clipped to it.
    pub fn value_range(mut self, low: f32, high: f32) -> Self {
        self.value_range = (low, high);
        self
    }
    /// Seeds this layer's own stream (default: drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.stream.seed = Some(seed);
        self
    }
    /// Keras's bounds on the factor.
    fn bounds(&self) -> (f32, f32) {
        if self.kind == Kind::Contrast { (0.0, 1.0) } else { (-1.0, 1.0) }
    }
}

impl Layer for RandomColor {
    fn class_name(&self) -> &'static str {
        if self.kind == Kind::Contrast { "RandomContrast" } else { "RandomBrightness" }
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        image_shape(&self.base.name, self.class_name(), input_shape)?;
        self.factor.check_overlap(&self.base.name, "factor", self.bounds())?;
        let (a, b) = self.value_range;
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(Error::layer(&self.base.name, format!("value_range must be (min, max) with min < max, received value_range=({a}, {b})")));
        }
        self.stream.start(rng);
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        if !training {
            return Ok(x.clone());
        }
        let n = x.shape()[0];
        let (lo, hi) = self.value_range;
        let out = match self.kind {
            Kind::Contrast => {
                let f = self.stream.draw_rows(&self.base.name, n, 1, |rng| rng.uniform_range(1.0 - self.factor.0, 1.0 + self.factor.1))?;
                let mean = x.mean_axis(1, true)?.mean_axis(2, true)?;
                x.sub(&mean)?.mul(&Tensor::new(f, &[n, 1, 1, 1])?)?.add(&mean)?
            }
            Kind::Brightness => {
                let d = self.stream.draw_rows(&self.base.name, n, 1, |rng| rng.uniform_range(self.factor.0, self.factor.1) * (hi - lo))?;
                x.add(&Tensor::new(d, &[n, 1, 1, 1])?)?
            }
        };
        Ok(out.clip(lo, hi))
    }
    random_stream_methods!();
    fn own_config(&self) -> Value {
        json!({ "factor": self.factor.config(), "value_range": [self.value_range.0, self.value_range.1], "seed": self.stream.seed, "data_format": "channels_last" })
    }
}

impl RandomColor {
    /// Reads Keras's config of `RandomContrast`.
    pub(crate) fn contrast_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Self::from_config(Kind::Contrast, l, config)
    }
    /// Reads Keras's config of `RandomBrightness`.
    pub(crate) fn brightness_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Self::from_config(Kind::Brightness, l, config)
    }
    fn from_config(kind: Kind, l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = RandomColor::new(kind, Factor::from_config(l, config, "factor")?);
        layer.value_range = value_range_field(l, config)?;
        layer.stream.seed = seed_field(l, config)?;
        Ok(Box::new(layer))
    }
}
