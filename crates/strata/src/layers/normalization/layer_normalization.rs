//! `LayerNormalization`: normalises each sample over its last axis, then
//! scales by `gamma` and shifts by `beta`.

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase, Weight};
use crate::layers::config as cfg;

/// Layer normalization over the last axis, Keras's default epsilon 0.001.
///
/// # Shapes
/// output shape = input shape; `gamma` and `beta` are `(last axis,)`.
pub struct LayerNormalization {
    base: LayerBase,
    epsilon: f32,
    built: Option<(Vec<usize>, Tensor, Tensor)>,
}

impl LayerNormalization {
    /// Normalisation over the last axis with Keras's default epsilon 0.001.
    pub fn new() -> Self {
        LayerNormalization { base: LayerBase::new("LayerNormalization"), epsilon: 1e-3, built: None }
    }
    /// Added to the variance before the square root (default 0.001).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization::new()
    }
}

impl Layer for LayerNormalization {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "LayerNormalization"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let Some(&d) = input_shape.last() else {
            return Err(Error::layer(&self.base.name, "LayerNormalization needs inputs with at least one axis after the batch axis"));
        };
        self.built = Some((input_shape.to_vec(), Tensor::variable(vec![1.0; d], &[d])?, Tensor::variable(vec![0.0; d], &[d])?));
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let (shape, gamma, beta) = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let mean = x.mean_axis(-1, true)?;
        let centered = x.sub(&mean)?;
        let var = centered.square().mean_axis(-1, true)?;
        centered.div(&var.add_scalar(self.epsilon).sqrt())?.mul(gamma)?.add(beta)
    }
    fn weights(&self) -> Vec<Weight> {
        let Some((_, gamma, beta)) = &self.built else { return Vec::new() };
        vec![Weight::new("gamma", gamma.clone(), true), Weight::new("beta", beta.clone(), true)]
    }
    fn own_config(&self) -> Value {
        json!({ "axis": -1, "epsilon": self.epsilon, "center": true, "scale": true })
    }
}

impl LayerNormalization {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let eps = cfg::normalization_epsilon(l, config)?;
        Ok(Box::new(LayerNormalization::new().epsilon(eps)))
    }
}
