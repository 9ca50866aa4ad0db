//! `Masking`: marks the steps of a sequence whose features all equal a value
//! as padding, for the layers after it to skip.

use serde_json::{json, Value};
use strata_core::{Error, Result, Rng, Tensor};

use crate::layers::config as cfg;
use crate::layers::{base_accessors, mask, Layer, LayerBase};

/// Keras's `Masking`: a step whose features all equal `mask_value` is
/// masked (its features become 0, and the layers after it that read masks,
/// such as `LSTM`, skip it); the others pass unchanged.
///
/// # Shapes
/// input `(batch, steps, ...)`, output the same, with a `(batch, steps)` mask.
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::{Masking, LSTM};
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(Masking::new(0.0).input_shape([5, 3]))?;
/// model.add(LSTM::new(4))?;
/// let x = Tensor::zeros(&[2, 5, 3]);
/// assert_eq!(model.predict(&x, 32)?.shape(), [2, 4]);
/// # Ok(()) }
/// ```
pub struct Masking {
    base: LayerBase,
    mask_value: f32,
    input_shape: Option<Vec<usize>>,
}

impl Masking {
    /// Masks the steps whose features all equal `mask_value` (Keras's default 0).
    pub fn new(mask_value: f32) -> Self {
        Masking { base: LayerBase::new("Masking"), mask_value, input_shape: None }
    }

    /// Which `(batch, step)` of `x` count: those with a feature other than `mask_value`.
    fn keep(&self, x: &Tensor) -> Result<Vec<bool>> {
        let shape = self.input_shape.as_ref().ok_or_else(|| crate::layers::not_built(self))?;
        crate::layers::check_input(self, x, shape)?;
        let features: usize = x.shape()[2..].iter().product();
        Ok(x.to_vec().chunks(features.max(1)).map(|step| step.iter().any(|&v| v != self.mask_value)).collect())
    }

    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Masking::new(cfg::num_field(l, config, "mask_value", 0.0)?)))
    }
}

impl Layer for Masking {
    fn class_name(&self) -> &'static str {
        "Masking"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if input_shape.is_empty() {
            return Err(Error::layer(&self.base.name, "Masking needs inputs of shape (batch, steps, ...), got (batch,)"));
        }
        if !self.mask_value.is_finite() {
            return Err(Error::layer(&self.base.name, format!("mask_value must be a finite number, received {}", self.mask_value)));
        }
        self.input_shape = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        mask::zero_masked(x, &self.keep(x)?)
    }
    fn compute_mask(&self, inputs: &[Tensor], _masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        Ok(vec![Some(mask::from_bools(&self.keep(x)?, &x.shape()[..2])?)])
    }
    fn own_config(&self) -> Value {
        json!({ "mask_value": self.mask_value })
    }
}
