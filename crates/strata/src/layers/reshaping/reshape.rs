//! `Reshape`: each sample takes a new shape with the same number of values.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;

/// Reshapes every sample to `target_shape` (one entry may be -1, inferred).
///
/// # Shapes
/// input `(batch, ...)`, output `(batch, *target_shape)`.
pub struct Reshape {
    base: LayerBase,
    target_shape: Vec<isize>,
    built: Option<(Vec<usize>, Vec<usize>)>,
}

impl Reshape {
    /// Each sample's new shape, without the batch axis; one entry may be -1.
    pub fn new(target_shape: impl Into<Vec<isize>>) -> Self {
        Reshape { base: LayerBase::new("Reshape"), target_shape: target_shape.into(), built: None }
    }
}

impl Layer for Reshape {
    fn class_name(&self) -> &'static str {
        "Reshape"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let total: usize = input_shape.iter().product();
        let known: usize = self.target_shape.iter().filter(|&&d| d > 0).map(|&d| d as usize).product();
        let holes = self.target_shape.iter().filter(|&&d| d == -1).count();
        let bad = || Error::layer(&self.base.name, format!("cannot reshape inputs of shape {} ({total} values) to target_shape={:?}", fmt_shape(input_shape), self.target_shape));
        if holes > 1 || self.target_shape.iter().any(|&d| d == 0 || d < -1) || known == 0 || !total.is_multiple_of(known) || (holes == 0 && known != total) {
            return Err(bad());
        }
        let out: Vec<usize> = self.target_shape.iter().map(|&d| if d == -1 { total / known } else { d as usize }).collect();
        self.built = Some((input_shape.to_vec(), out.clone()));
        Ok(out)
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let (input, out) = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, input)?;
        let shape: Vec<isize> = std::iter::once(x.shape()[0] as isize).chain(out.iter().map(|&d| d as isize)).collect();
        x.reshape(&shape)
    }
    fn own_config(&self) -> Value {
        json!({ "target_shape": self.target_shape })
    }
}

impl Reshape {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let v = cfg::field(l, config, "target_shape")?;
        let dims = v.as_array().map(|a| a.iter().map(|d| d.as_i64().map(|d| d as isize)).collect::<Option<Vec<_>>>());
        Ok(Box::new(Reshape::new(dims.flatten().ok_or_else(|| cfg::bad(l, "target_shape", "a list of integers", v))?)))
    }
}
