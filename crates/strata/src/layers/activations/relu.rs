//! `ReLU` and `LeakyReLU` layers: the rectifier with Keras's options.

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;

/// Keras's `ReLU` layer: `x` above `threshold` (at most `max_value`),
/// `negative_slope · (x - threshold)` below it. Defaults: plain relu.
pub struct ReLU {
    base: LayerBase,
    max_value: Option<f32>,
    negative_slope: f32,
    threshold: f32,
    class: &'static str,
    built: Option<Vec<usize>>,
}

/// Keras's `LeakyReLU`: `x` for `x >= 0`, `negative_slope * x` below (a [`ReLU`] with a slope).
pub struct LeakyReLU;

impl LeakyReLU {
    /// `LeakyReLU(negative_slope)`; Keras's default slope is 0.3.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(negative_slope: f32) -> ReLU {
        ReLU::leaky(negative_slope)
    }
}

impl ReLU {
    /// Plain relu, `max(x, 0)`: Keras's defaults (no max value, slope 0, threshold 0).
    pub fn new() -> Self {
        ReLU { base: LayerBase::new("ReLU"), max_value: None, negative_slope: 0.0, threshold: 0.0, class: "ReLU", built: None }
    }
    /// Keras's `LeakyReLU(negative_slope=0.3)`.
    pub fn leaky(negative_slope: f32) -> Self {
        ReLU { base: LayerBase::new("LeakyReLU"), negative_slope, class: "LeakyReLU", ..ReLU::new() }
    }
    /// The largest output (Keras's default: none).
    pub fn max_value(mut self, max_value: f32) -> Self {
        self.max_value = Some(max_value);
        self
    }
    /// Slope below the threshold (Keras's default 0).
    pub fn negative_slope(mut self, negative_slope: f32) -> Self {
        self.negative_slope = negative_slope;
        self
    }
    /// Inputs below it are zeroed, or sloped by `negative_slope` (Keras's default 0).
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }
}

impl Default for ReLU {
    fn default() -> Self {
        ReLU::new()
    }
}

impl Layer for ReLU {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        self.class
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let bad = |v: f32| v.is_nan() || v < 0.0;
        if self.max_value.is_some_and(bad) || bad(self.negative_slope) || bad(self.threshold) || !self.threshold.is_finite() {
            return Err(Error::layer(&self.base.name, format!("{} needs max_value >= 0, negative_slope >= 0 and a finite threshold >= 0, received max_value={:?}, negative_slope={}, threshold={}", self.class, self.max_value, self.negative_slope, self.threshold)));
        }
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        Ok(x.relu_with(self.negative_slope, self.max_value, self.threshold))
    }
    fn own_config(&self) -> Value {
        if self.class == "LeakyReLU" {
            return json!({ "negative_slope": self.negative_slope });
        }
        json!({ "max_value": self.max_value, "negative_slope": self.negative_slope, "threshold": self.threshold })
    }
}

impl ReLU {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut relu = ReLU::new().negative_slope(cfg::num_field(l, config, "negative_slope", 0.0)?).threshold(cfg::num_field(l, config, "threshold", 0.0)?);
        if config.get("max_value").is_some_and(|m| !m.is_null()) {
            relu = relu.max_value(cfg::num_field(l, config, "max_value", 0.0)?);
        }
        Ok(Box::new(relu))
    }
    /// Reads Keras's config of `LeakyReLU`.
    pub(crate) fn leaky_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(ReLU::leaky(cfg::num_field(l, config, "negative_slope", 0.3)?)))
    }
}
