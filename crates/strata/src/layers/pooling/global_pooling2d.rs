//! `GlobalAveragePooling2D` and `GlobalMaxPooling2D`: one value per channel.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};

/// The mean (`AVG`) or maximum of every channel over height and width.
///
/// # Shapes
/// input `(batch, height, width, channels)`, output `(batch, channels)`
/// (`(batch, 1, 1, channels)` with `keepdims`).
pub struct GlobalPooling2D<const AVG: bool> {
    base: LayerBase,
    keepdims: bool,
    built: Option<Vec<usize>>,
}

/// Keras's `GlobalAveragePooling2D`.
pub type GlobalAveragePooling2D = GlobalPooling2D<true>;
/// Keras's `GlobalMaxPooling2D`.
pub type GlobalMaxPooling2D = GlobalPooling2D<false>;

impl<const AVG: bool> GlobalPooling2D<AVG> {
    const CLASS: &'static str = if AVG { "GlobalAveragePooling2D" } else { "GlobalMaxPooling2D" };

    /// Keras's default: `keepdims = false`.
    pub fn new() -> Self {
        GlobalPooling2D { base: LayerBase::new(Self::CLASS), keepdims: false, built: None }
    }
    /// Keep the spatial axes as size 1.
    pub fn keepdims(mut self, keepdims: bool) -> Self {
        self.keepdims = keepdims;
        self
    }
}

impl<const AVG: bool> Default for GlobalPooling2D<AVG> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const AVG: bool> Layer for GlobalPooling2D<AVG> {
    fn class_name(&self) -> &'static str {
        Self::CLASS
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let &[_, _, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("{} expects inputs of shape (height, width, channels), received input_shape={}", Self::CLASS, fmt_shape(input_shape))));
        };
        self.built = Some(input_shape.to_vec());
        Ok(if self.keepdims { vec![1, 1, c] } else { vec![c] })
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let (n, hw, c) = (x.shape()[0] as isize, (shape[0] * shape[1]) as isize, shape[2] as isize);
        let flat = x.reshape(&[n, hw, c])?;
        let y = if AVG { flat.mean_axis(1, self.keepdims)? } else { flat.max_axis(1, self.keepdims)? };
        if self.keepdims { y.reshape(&[n, 1, 1, c]) } else { Ok(y) }
    }
    fn config(&self) -> Value {
        json!({ "name": self.base.name, "trainable": true, "dtype": "float32", "data_format": "channels_last", "keepdims": self.keepdims })
    }
}
