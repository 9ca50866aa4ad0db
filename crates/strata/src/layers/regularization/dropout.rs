//! `Dropout`: in training, zeroes a random fraction `rate` of the inputs and
//! scales the rest by `1 / (1 - rate)`; in inference, passes them through.

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::super::random::{random_stream_methods, seed_field, RandomStream};
use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;

/// Randomly drops inputs during training (Keras's inverted dropout).
///
/// # Shapes
/// output shape = input shape.
pub struct Dropout {
    base: LayerBase,
    rate: f32,
    /// Seeded at build (by the model's seed unless `seed` set one), so a seeded run drops the same units.
    stream: RandomStream,
    built: Option<Vec<usize>>,
}

impl Dropout {
    /// `rate` in `[0, 1)`: the fraction of inputs dropped in training.
    pub fn new(rate: f32) -> Self {
        Dropout { base: LayerBase::new("Dropout"), rate, stream: RandomStream::default(), built: None }
    }
}

impl Dropout {
    /// Seeds this layer's own stream (Keras's `seed=`; default: drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.stream.seed = Some(seed);
        self
    }
}

impl Layer for Dropout {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Dropout"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::layer(&self.base.name, format!("Dropout needs a rate in [0, 1), received rate={}", self.rate)));
        }
        self.stream.start(rng);
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        if !training || self.rate == 0.0 {
            return Ok(x.clone());
        }
        let rows = x.shape()[0];
        let mask = self.stream.dropout_mask(&self.base.name, rows, x.numel() / rows.max(1), self.rate)?;
        x.mul(&Tensor::new(mask, x.shape())?)
    }
    random_stream_methods!();
    fn own_config(&self) -> Value {
        json!({ "rate": self.rate, "seed": self.stream.seed, "noise_shape": null })
    }
}

impl Dropout {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let v = cfg::field(l, config, "rate")?;
        let mut layer = Dropout::new(v.as_f64().ok_or_else(|| cfg::bad(l, "rate", "a number", v))? as f32);
        layer.stream.seed = seed_field(l, config)?;
        Ok(Box::new(layer))
    }
}
