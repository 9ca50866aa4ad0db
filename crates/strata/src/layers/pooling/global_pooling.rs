//! `GlobalAveragePooling1D/2D` and `GlobalMaxPooling1D/2D`: one value per channel.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;
use crate::layers::mask;

/// The mean (`AVG`) or maximum of every channel over the `DIMS` spatial axes.
///
/// # Shapes
/// input `(batch, steps, channels)` or `(batch, height, width, channels)`,
/// output `(batch, channels)` (spatial axes kept as size 1 with `keepdims`).
pub struct GlobalPooling<const AVG: bool, const DIMS: usize> {
    base: LayerBase,
    keepdims: bool,
    built: Option<Vec<usize>>,
}

/// Keras's `GlobalAveragePooling2D`.
pub type GlobalAveragePooling2D = GlobalPooling<true, 2>;
/// Keras's `GlobalMaxPooling2D`.
pub type GlobalMaxPooling2D = GlobalPooling<false, 2>;
/// Keras's `GlobalAveragePooling1D`.
pub type GlobalAveragePooling1D = GlobalPooling<true, 1>;
/// Keras's `GlobalMaxPooling1D`.
pub type GlobalMaxPooling1D = GlobalPooling<false, 1>;

impl<const AVG: bool, const DIMS: usize> GlobalPooling<AVG, DIMS> {
    const CLASS: &'static str = match (AVG, DIMS) {
        (true, 1) => "GlobalAveragePooling1D",
        (false, 1) => "GlobalMaxPooling1D",
        (true, _) => "GlobalAveragePooling2D",
        (false, _) => "GlobalMaxPooling2D",
    };

    /// Keras's default: `keepdims = false`.
    pub fn new() -> Self {
        GlobalPooling { base: LayerBase::new(Self::CLASS), keepdims: false, built: None }
    }
    /// Keep the spatial axes as size 1.
    pub fn keepdims(mut self, keepdims: bool) -> Self {
        self.keepdims = keepdims;
        self
    }
}

impl<const AVG: bool, const DIMS: usize> Default for GlobalPooling<AVG, DIMS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const AVG: bool, const DIMS: usize> Layer for GlobalPooling<AVG, DIMS> {
    fn class_name(&self) -> &'static str {
        Self::CLASS
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if input_shape.len() != DIMS + 1 {
            let expected = if DIMS == 1 { "(steps, channels)" } else { "(height, width, channels)" };
            return Err(Error::layer(&self.base.name, format!("{} expects inputs of shape {expected}, received input_shape={}", Self::CLASS, fmt_shape(input_shape))));
        }
        let c = input_shape[DIMS];
        self.built = Some(input_shape.to_vec());
        let mut out = if self.keepdims { vec![1; DIMS] } else { Vec::new() };
        out.push(c);
        Ok(out)
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let (n, c) = (x.shape()[0] as isize, shape[DIMS] as isize);
        let spatial: usize = shape[..DIMS].iter().product();
        let flat = x.reshape(&[n, spatial as isize, c])?;
        let y = if AVG { flat.mean_axis(1, self.keepdims)? } else { flat.max_axis(1, self.keepdims)? };
        if self.keepdims && DIMS == 2 { y.reshape(&[n, 1, 1, c]) } else { Ok(y) }
    }
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        // Keras's GlobalAveragePooling1D averages the kept steps only (and no other of these reads masks).
        let (Some(m), true) = (masks.first().cloned().flatten(), AVG && DIMS == 1) else { return self.call_many(inputs, training) };
        let x = &inputs[0];
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        let keep = mask::steps_of(&self.base.name, &m, x)?;
        // A sequence with no kept step has no mean: NaN, as Keras's 0 / 0.
        let scale: Vec<f32> = keep.chunks(x.shape()[1]).map(|row| 1.0 / row.iter().filter(|&&k| k).count() as f32).collect();
        let shape = if self.keepdims { vec![x.shape()[0], 1, 1] } else { vec![x.shape()[0], 1] };
        Ok(vec![mask::zero_masked(x, &keep)?.sum_axis(1, self.keepdims)?.mul(&Tensor::new(scale, &shape)?)?])
    }
    fn own_config(&self) -> Value {
        json!({ "data_format": "channels_last", "keepdims": self.keepdims })
    }
}

impl<const AVG: bool, const DIMS: usize> GlobalPooling<AVG, DIMS> {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Self::new().keepdims(cfg::bool_field(l, config, "keepdims", false)?)))
    }
}
