//! `Permute`: reorders the axes of each sample.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;

/// Reorders the non-batch axes: `dims` numbers them from 1, as in Keras
/// (`Permute((2, 1))` swaps the two axes of `(steps, features)` samples).
pub struct Permute {
    base: LayerBase,
    dims: Vec<usize>,
    built: Option<Vec<usize>>,
}

impl Permute {
    /// The new order of the sample's axes, numbered from 1 (`[2, 1]` swaps two axes).
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Permute { base: LayerBase::new("Permute"), dims: dims.into(), built: None }
    }
}

impl Layer for Permute {
    fn class_name(&self) -> &'static str {
        "Permute"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=input_shape.len()).collect::<Vec<_>>() {
            return Err(Error::layer(&self.base.name, format!("dims={:?} is not a permutation of 1..={} for input_shape={}", self.dims, input_shape.len(), fmt_shape(input_shape))));
        }
        self.built = Some(input_shape.to_vec());
        Ok(self.dims.iter().map(|&d| input_shape[d - 1]).collect())
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let perm: Vec<usize> = std::iter::once(0).chain(self.dims.iter().copied()).collect();
        x.permute(&perm)
    }
    fn own_config(&self) -> Value {
        json!({ "dims": self.dims })
    }
}

impl Permute {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let v = cfg::field(l, config, "dims")?;
        let dims = v.as_array().and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>());
        Ok(Box::new(Permute::new(dims.ok_or_else(|| cfg::bad(l, "dims", "a list of axis numbers", v))?)))
    }
}
