//! `MaxPooling2D`: the maximum of each window of an NHWC image.

use serde_json::{json, Value};
use strata_core::{fmt_shape, ops, Error, Padding, Result, Rng, Tensor};

use super::super::{LayerBase, check_input, not_built, IntoPair, Layer};

/// 2-D max pooling (channels last).
///
/// # Shapes
/// input `(batch, height, width, channels)`, output `(batch, out_height, out_width, channels)`.
pub struct MaxPooling2D {
    base: LayerBase,
    pool_size: (usize, usize),
    strides: Option<(usize, usize)>,
    padding: Padding,
    built: Option<Vec<usize>>,
}

impl MaxPooling2D {
    /// Windows of `pool_size` (`2` or `(2, 2)`); Keras's defaults: strides =
    /// pool size, `valid` padding.
    pub fn new(pool_size: impl IntoPair) -> Self {
        MaxPooling2D {
            base: LayerBase::new("MaxPooling2D"),
            pool_size: pool_size.into_pair(),
            strides: None,
            padding: Padding::Valid,
            built: None,
        }
    }
    /// Step of the window (default: the pool size).
    pub fn strides(mut self, strides: impl IntoPair) -> Self {
        self.strides = Some(strides.into_pair());
        self
    }
    /// `Padding::Valid` (default) or `Padding::Same`.
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    fn effective_strides(&self) -> (usize, usize) {
        self.strides.unwrap_or(self.pool_size)
    }
}

impl Layer for MaxPooling2D {
    fn class_name(&self) -> &'static str {
        "MaxPooling2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let (p, s) = (self.pool_size, self.effective_strides());
        if p.0 == 0 || p.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(Error::layer(&self.base.name, format!("MaxPooling2D needs positive pool_size and strides, received pool_size={p:?}, strides={s:?}")));
        }
        let &[h, w, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("MaxPooling2D expects inputs of shape (height, width, channels), received input_shape={}", fmt_shape(input_shape))));
        };
        let window = strata_core::kernels::window::Window::new([1, h, w, c], p, s, self.padding).ok_or_else(|| {
            Error::layer(&self.base.name, format!("pool_size={p:?} does not fit input_shape={} with '{}' padding", fmt_shape(input_shape), self.padding.name()))
        })?;
        self.built = Some(input_shape.to_vec());
        Ok(vec![window.oh, window.ow, c])
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        ops::max_pool2d(x, self.pool_size, self.effective_strides(), self.padding)
    }

    fn config(&self) -> Value {
        let s = self.effective_strides();
        json!({
            "name": self.base.name,
            "trainable": true,
            "dtype": "float32",
            "pool_size": [self.pool_size.0, self.pool_size.1],
            "strides": [s.0, s.1],
            "padding": self.padding.name(),
            "data_format": "channels_last",
        })
    }
}
