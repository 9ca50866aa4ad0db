//! `ZeroPadding2D` and `Cropping2D`: rows and columns of zeros added around
//! NHWC images, or removed from their edges.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use crate::layers::config as cfg;

/// `((top, bottom), (left, right))` rows and columns.
pub type Margins = ((usize, usize), (usize, usize));

/// Adds (`CROP` false, [`ZeroPadding2D`]) or removes (`CROP` true,
/// [`Cropping2D`]) `((top, bottom), (left, right))` rows and columns.
///
/// # Shapes
/// input `(batch, height, width, channels)`, output `(batch, height ± top ± bottom, width ± left ± right, channels)`.
pub struct Margins2D<const CROP: bool> {
    base: LayerBase,
    margins: Margins,
    built: Option<Vec<usize>>,
}

/// Keras's `ZeroPadding2D` (default `padding=(1, 1)`).
pub type ZeroPadding2D = Margins2D<false>;
/// Keras's `Cropping2D` (default `cropping=((0, 0), (0, 0))`).
pub type Cropping2D = Margins2D<true>;

impl<const CROP: bool> Margins2D<CROP> {
    const CLASS: &'static str = if CROP { "Cropping2D" } else { "ZeroPadding2D" };
    const FIELD: &'static str = if CROP { "cropping" } else { "padding" };

    /// `((top, bottom), (left, right))`; [`Margins2D::symmetric`] for Keras's `(rows, cols)` form.
    pub fn new(margins: Margins) -> Self {
        Margins2D { base: LayerBase::new(Self::CLASS), margins, built: None }
    }
    /// `rows` at the top and bottom, `cols` at the left and right.
    pub fn symmetric(rows: usize, cols: usize) -> Self {
        Self::new(((rows, rows), (cols, cols)))
    }
    /// The name of the margins in Keras's config (`padding` or `cropping`).
    pub fn field() -> &'static str {
        Self::FIELD
    }
    fn signed(&self) -> ((isize, isize), (isize, isize)) {
        let s = |v: usize| if CROP { -(v as isize) } else { v as isize };
        let ((t, b), (l, r)) = self.margins;
        ((s(t), s(b)), (s(l), s(r)))
    }
}

impl<const CROP: bool> Layer for Margins2D<CROP> {
    fn class_name(&self) -> &'static str {
        Self::CLASS
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let &[h, w, c] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("{} expects inputs of shape (height, width, channels), received input_shape={}", Self::CLASS, fmt_shape(input_shape))));
        };
        let ((t, b), (l, r)) = self.signed();
        let (oh, ow) = (h as isize + t + b, w as isize + l + r);
        if oh <= 0 || ow <= 0 {
            return Err(Error::layer(&self.base.name, format!("{}={:?} leaves nothing of input_shape={}", Self::FIELD, self.margins, fmt_shape(input_shape))));
        }
        self.built = Some(input_shape.to_vec());
        Ok(vec![oh as usize, ow as usize, c])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let (rows, cols) = self.signed();
        x.pad2d(rows, cols)
    }
    fn own_config(&self) -> Value {
        let ((t, b), (l, r)) = self.margins;
        json!({ Self::FIELD: [[t, b], [l, r]], "data_format": "channels_last" })
    }
}

impl<const CROP: bool> Margins2D<CROP> {
    /// Reads Keras's config of this layer (`layer.get_config()`); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Self::new(cfg::margins_field(l, config, Self::FIELD)?)))
    }
}
