//! `Dropout`: in training, zeroes a random fraction `rate` of the inputs and
//! scales the rest by `1 / (1 - rate)`; in inference, passes them through.

use std::sync::Mutex;

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;

/// Randomly drops inputs during training (Keras's inverted dropout).
///
/// # Shapes
/// output shape = input shape.
pub struct Dropout {
    base: LayerBase,
    rate: f32,
    /// Drawn from the model's seed at build, so a seeded run drops the same units.
    rng: Mutex<Option<Rng>>,
    built: Option<Vec<usize>>,
}

impl Dropout {
    /// `rate` in `[0, 1)`: the fraction of inputs dropped in training.
    pub fn new(rate: f32) -> Self {
        Dropout { base: LayerBase::new("Dropout"), rate, rng: Mutex::new(None), built: None }
    }
}

impl Layer for Dropout {
    fn class_name(&self) -> &'static str {
        "Dropout"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::layer(&self.base.name, format!("Dropout needs a rate in [0, 1), received rate={}", self.rate)));
        }
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rng::new(rng.next_u64()));
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        if !training || self.rate == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.rate;
        let mut guard = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let rng = guard.as_mut().ok_or_else(|| not_built(self))?;
        let mask: Vec<f32> = (0..x.numel()).map(|_| if rng.uniform() < self.rate { 0.0 } else { 1.0 / keep }).collect();
        x.mul(&Tensor::new(mask, x.shape())?)
    }
    fn random_streams(&self) -> Vec<(String, [u64; 4])> {
        let rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.as_ref().map(|r| vec![("seed_generator".to_string(), r.state())]).unwrap_or_default()
    }
    fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> Result<()> {
        for (name, state) in streams {
            if name != "seed_generator" {
                return Err(Error::layer(&self.base.name, format!("has no random stream '{name}' (it has 'seed_generator')")));
            }
            *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rng::from_state(*state));
        }
        Ok(())
    }
    fn own_config(&self) -> Value {
        json!({ "rate": self.rate, "seed": null, "noise_shape": null })
    }
}

impl Dropout {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let v = cfg::field(l, config, "rate")?;
        Ok(Box::new(Dropout::new(v.as_f64().ok_or_else(|| cfg::bad(l, "rate", "a number", v))? as f32)))
    }
}
