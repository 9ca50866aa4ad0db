//! `TimeDistributed`: one layer applied to every step of a sequence, as Keras's wrapper.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::wrapper::{nested_config, nested_from_config, weights_under};
use crate::layers::{base_accessors, check_input, not_built, Layer, LayerBase, Weight};

/// Applies a layer to each step of its input (Keras's `TimeDistributed`):
/// the batch and time axes are folded into one, the layer runs once on all
/// steps, and they are unfolded again. Every step shares the layer's weights
/// (keyed `time_distributed/dense/kernel`, as Keras 3's variable paths).
///
/// ```
/// use strata::prelude::*;
/// use strata::layers::TimeDistributed;
///
/// # fn main() -> strata::Result<()> {
/// let mut model = Sequential::with_seed(0);
/// model.add(TimeDistributed::new(Dense::new(4)).input_shape([7, 3]))?;
/// assert_eq!(model.predict(&Tensor::zeros(&[2, 7, 3]), 32)?.shape(), [2, 7, 4]);
/// # Ok(()) }
/// ```
///
/// # Shapes
/// input `(batch, time, ...)`, output `(batch, time, ...)` with the layer's output per step.
pub struct TimeDistributed {
    base: LayerBase,
    layer: Box<dyn Layer>,
    /// The input and output shapes, time axis included.
    built: Option<(Vec<usize>, Vec<usize>)>,
}

impl TimeDistributed {
    /// Applies `layer` at every step.
    pub fn new(layer: impl Layer + 'static) -> Self {
        TimeDistributed::new_boxed(Box::new(layer))
    }
    fn new_boxed(layer: Box<dyn Layer>) -> Self {
        TimeDistributed { base: LayerBase::new("TimeDistributed"), layer, built: None }
    }
}

impl Layer for TimeDistributed {
    fn passes_mask(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "TimeDistributed"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.base.check()?;
        let Some((&time, step)) = input_shape.split_first().filter(|(_, step)| !step.is_empty()) else {
            return Err(Error::layer(&self.base.name, format!("TimeDistributed expects inputs of shape (batch, time, ...), at least 3D, received input_shape={}", fmt_shape(input_shape))));
        };
        if self.layer.num_outputs() != 1 {
            return Err(Error::layer(&self.base.name, format!("TimeDistributed wraps layers with one output; '{}' has {}", self.layer.name(), self.layer.num_outputs())));
        }
        let out = self.layer.build(step, rng).map_err(|e| e.in_layer(&self.base.name))?;
        let output: Vec<usize> = std::iter::once(time).chain(out).collect();
        self.built = Some((input_shape.to_vec(), output.clone()));
        Ok(output)
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let (input, output) = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, input)?;
        let (batch, time) = (x.shape()[0], input[0]);
        let folded: Vec<isize> = std::iter::once(batch * time).chain(input[1..].iter().copied()).map(|d| d as isize).collect();
        let y = self.layer.call(&x.reshape(&folded)?, training)?;
        let unfolded: Vec<isize> = [batch].into_iter().chain(output.iter().copied()).map(|d| d as isize).collect();
        y.reshape(&unfolded)
    }
    fn weights(&self) -> Vec<Weight> {
        weights_under(self.layer.as_ref())
    }
    fn keras_h5_paths(&self) -> Vec<String> {
        self.layer.keras_h5_paths().into_iter().map(|p| format!("layer/{p}")).collect()
    }
    fn random_streams(&self) -> Vec<(String, [u64; 4])> {
        self.layer.random_streams()
    }
    fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> Result<()> {
        self.layer.set_random_streams(streams)
    }
    fn own_config(&self) -> Value {
        json!({ "layer": nested_config(self.layer.as_ref()) })
    }
}

impl TimeDistributed {
    /// Reads Keras's config (`layer`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = TimeDistributed::new_boxed(nested_from_config(l, config, "layer")?);
        layer.base.name = l.to_string();
        Ok(Box::new(layer))
    }
}
