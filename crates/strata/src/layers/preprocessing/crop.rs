//! `Resizing`, `CenterCrop` and `RandomCrop`: images to a fixed size.

use serde_json::{json, Value};
use strata_core::ops::Interpolation;
use strata_core::{Error, Result, Rng, Tensor};

use super::super::random::{random_stream_methods, seed_field, RandomStream};
use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use super::image_shape;
use crate::layers::config as cfg;

/// The largest centred window of an `h x w` image with the aspect ratio of
/// `(th, tw)`, as Keras cuts it: `(top, left, height, width)`.
fn aspect_window((h, w): (usize, usize), (th, tw): (usize, usize)) -> (usize, usize, usize, usize) {
    let ch = (((w * th) as f32 / tw as f32) as usize).clamp(1, h);
    let cw = (((h * tw) as f32 / th as f32) as usize).clamp(1, w);
    ((h - ch) / 2, (w - cw) / 2, ch, cw)
}

/// `x` (`[n, h, w, c]`) cut to its [`aspect_window`] (Keras's `crop_to_aspect_ratio`).
fn crop_to_aspect(x: &Tensor, size: (usize, usize)) -> Result<Tensor> {
    let (top, left, ch, cw) = aspect_window((x.shape()[1], x.shape()[2]), size);
    x.narrow(1, top, ch)?.narrow(2, left, cw)
}

/// `x` padded with `value` to the target's aspect ratio, as Keras's
/// `pad_to_aspect_ratio`: `(pad - h) / 2` rows at the top and as many at the bottom.
fn pad_to_aspect(x: &Tensor, (th, tw): (usize, usize), value: f32) -> Result<Tensor> {
    let &[n, h, w, c] = x.shape() else { unreachable!("images are checked at build") };
    let pad_h = h.max(((w * th) as f32 / tw as f32) as usize);
    let pad_w = w.max(((h * tw) as f32 / th as f32) as usize);
    let (rows, cols) = ((pad_h - h) / 2, (pad_w - w) / 2);
    let mut x = x.clone();
    if rows > 0 {
        let band = Tensor::full(&[n, rows, w, c], value);
        x = Tensor::concat(&[band.clone(), x, band], 1)?;
    }
    if cols > 0 {
        let band = Tensor::full(&[n, h + 2 * rows, cols, c], value);
        x = Tensor::concat(&[band.clone(), x, band], 2)?;
    }
    Ok(x)
}

/// Keras's `smart_resize`: the centred window of the target's aspect, resized (bilinear).
fn smart_resize(x: &Tensor, size: (usize, usize)) -> Result<Tensor> {
    crop_to_aspect(x, size)?.resize(size, Interpolation::Bilinear)
}

/// Keras's `CenterCrop` of `h x w` images `x` to `size`: the centre window,
/// or, for an image smaller than that in either dimension, [`smart_resize`].
fn centre_crop(x: &Tensor, (h, w): (usize, usize), size: (usize, usize)) -> Result<Tensor> {
    let (th, tw) = size;
    match h >= th && w >= tw {
        true => x.narrow(1, (h - th) / 2, th)?.narrow(2, (w - tw) / 2, tw),
        false => smart_resize(x, size),
    }
}

/// Checks a target size, naming the layer.
fn check_size(layer: &str, class: &str, (h, w): (usize, usize)) -> Result<()> {
    match h > 0 && w > 0 {
        true => Ok(()),
        false => Err(Error::layer(layer, format!("{class} needs a positive height and width, received height={h}, width={w}"))),
    }
}

/// Resizes images to `(height, width)` (Keras's `Resizing`): bilinear or
/// nearest, as `keras.ops.image.resize`; optionally cropping first to the
/// target's aspect ratio.
///
/// # Shapes
/// input `(batch, h, w, channels)`, output `(batch, height, width, channels)`.
pub struct Resizing {
    base: LayerBase,
    size: (usize, usize),
    interpolation: Interpolation,
    crop_to_aspect_ratio: bool,
    /// Keras's `pad_to_aspect_ratio` and its `fill_value`.
    pad_to_aspect_ratio: Option<f32>,
    built: Option<Vec<usize>>,
}

impl Resizing {
    /// Images resized to `height x width`, bilinear.
    pub fn new(height: usize, width: usize) -> Self {
        Resizing { base: LayerBase::new("Resizing"), size: (height, width), interpolation: Interpolation::Bilinear, crop_to_aspect_ratio: false, pad_to_aspect_ratio: None, built: None }
    }
    /// `"bilinear"` (default) or `"nearest"`.
    pub fn interpolation(mut self, interpolation: &str) -> Self {
        let parsed = Interpolation::parse(interpolation).ok_or_else(|| Error::argument("Resizing", format!("interpolation must be 'bilinear' or 'nearest', received interpolation='{interpolation}'")));
        if let Some(i) = self.base.keep_error(parsed) {
            self.interpolation = i;
        }
        self
    }
    /// Crops the largest centred window of the target's aspect ratio before resizing (default false).
    pub fn crop_to_aspect_ratio(mut self, crop: bool) -> Self {
        self.crop_to_aspect_ratio = crop;
        self
    }
    /// Pads the image with `fill_value` to the target's aspect ratio before
    /// resizing (Keras's `pad_to_aspect_ratio=True`; default: no padding).
    pub fn pad_to_aspect_ratio(mut self, fill_value: f32) -> Self {
        self.pad_to_aspect_ratio = Some(fill_value);
        self
    }
}

impl Layer for Resizing {
    fn class_name(&self) -> &'static str {
        "Resizing"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.base.check()?;
        let (_, _, c) = image_shape(&self.base.name, "Resizing", input_shape)?;
        check_size(&self.base.name, "Resizing", self.size)?;
        if self.crop_to_aspect_ratio && self.pad_to_aspect_ratio.is_some() {
            return Err(Error::layer(&self.base.name, "Resizing: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be true"));
        }
        self.built = Some(input_shape.to_vec());
        Ok(vec![self.size.0, self.size.1, c])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        let x = match (self.crop_to_aspect_ratio, self.pad_to_aspect_ratio) {
            (true, _) => crop_to_aspect(x, self.size)?,
            (false, Some(value)) => pad_to_aspect(x, self.size, value)?,
            (false, None) => x.clone(),
        };
        x.resize(self.size, self.interpolation)
    }
    fn own_config(&self) -> Value {
        json!({
            "height": self.size.0, "width": self.size.1, "interpolation": self.interpolation.name(),
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio.is_some(),
            "fill_mode": "constant", "fill_value": self.pad_to_aspect_ratio.unwrap_or(0.0), "antialias": false, "data_format": "channels_last",
        })
    }
}

impl Resizing {
    /// Reads Keras's config of this layer; `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        cfg::require(l, config, "fill_mode", &Value::from("constant"))?;
        cfg::require(l, config, "antialias", &Value::Bool(false))?;
        let interpolation = config.get("interpolation").and_then(Value::as_str).unwrap_or("bilinear");
        if Interpolation::parse(interpolation).is_none() {
            return Err(cfg::bad(l, "interpolation", "'bilinear' or 'nearest'", &config["interpolation"]));
        }
        let layer = Resizing::new(cfg::usize_field(l, config, "height")?, cfg::usize_field(l, config, "width")?)
            .interpolation(interpolation)
            .crop_to_aspect_ratio(cfg::bool_field(l, config, "crop_to_aspect_ratio", false)?);
        let layer = match cfg::bool_field(l, config, "pad_to_aspect_ratio", false)? {
            true => layer.pad_to_aspect_ratio(cfg::num_field(l, config, "fill_value", 0.0)?),
            false => layer,
        };
        Ok(Box::new(layer))
    }
}

/// Crops the centre `(height, width)` of images (Keras's `CenterCrop`); an
/// image smaller than that in either dimension is resized as Keras's
/// `smart_resize` does instead.
///
/// # Shapes
/// input `(batch, h, w, channels)`, output `(batch, height, width, channels)`.
pub struct CenterCrop {
    base: LayerBase,
    size: (usize, usize),
    built: Option<Vec<usize>>,
}

impl CenterCrop {
    /// The centre `height x width` window.
    pub fn new(height: usize, width: usize) -> Self {
        CenterCrop { base: LayerBase::new("CenterCrop"), size: (height, width), built: None }
    }
}

impl Layer for CenterCrop {
    fn class_name(&self) -> &'static str {
        "CenterCrop"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let (_, _, c) = image_shape(&self.base.name, "CenterCrop", input_shape)?;
        check_size(&self.base.name, "CenterCrop", self.size)?;
        self.built = Some(input_shape.to_vec());
        Ok(vec![self.size.0, self.size.1, c])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        centre_crop(x, (shape[0], shape[1]), self.size)
    }
    fn own_config(&self) -> Value {
        json!({ "height": self.size.0, "width": self.size.1, "data_format": "channels_last" })
    }
}

impl CenterCrop {
    /// Reads Keras's config of this layer; `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(CenterCrop::new(cfg::usize_field(l, config, "height")?, cfg::usize_field(l, config, "width")?)))
    }
}

/// Crops a random `(height, width)` window in training, one position per
/// batch (Keras's `RandomCrop`). In training, images not larger than the
/// window in both dimensions are cut and resized as Keras 3 does. At
/// inference the centre window is cut, as Keras 2 did and [`CenterCrop`]
/// does: Keras 3.15 returns the input uncropped there, contradicting its own
/// output shape, so a model with the layer could not predict.
///
/// # Shapes
/// input `(batch, h, w, channels)`, output `(batch, height, width, channels)`.
pub struct RandomCrop {
    base: LayerBase,
    size: (usize, usize),
    stream: RandomStream,
    built: Option<Vec<usize>>,
}

impl RandomCrop {
    /// A random `height x width` window.
    pub fn new(height: usize, width: usize) -> Self {
        RandomCrop { base: LayerBase::new("RandomCrop"), size: (height, width), stream: RandomStream::default(), built: None }
    }
    /// Seeds this layer's own stream (default: drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.stream.seed = Some(seed);
        self
    }
}

impl Layer for RandomCrop {
    fn class_name(&self) -> &'static str {
        "RandomCrop"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let (_, _, c) = image_shape(&self.base.name, "RandomCrop", input_shape)?;
        check_size(&self.base.name, "RandomCrop", self.size)?;
        self.stream.start(rng);
        self.built = Some(input_shape.to_vec());
        Ok(vec![self.size.0, self.size.1, c])
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        let ((h, w), (th, tw)) = ((shape[0], shape[1]), self.size);
        if !training {
            return centre_crop(x, (h, w), self.size);
        }
        if !(h > th && w > tw) {
            // Keras 3: the aspect window's corner, but a window of the target
            // size (cut short at the image's edge), resized.
            let (top, left, ..) = aspect_window((h, w), self.size);
            let cut = x.narrow(1, top, th.min(h - top))?.narrow(2, left, tw.min(w - left))?;
            return match cut.shape()[1..3] == [th, tw] {
                true => Ok(cut),
                false => cut.resize(self.size, Interpolation::Bilinear),
            };
        }
        let (top, left) = self.stream.draw(&self.base.name, |rng| (rng.below(h - th + 1), rng.below(w - tw + 1)))?;
        x.narrow(1, top, th)?.narrow(2, left, tw)
    }
    random_stream_methods!();
    fn own_config(&self) -> Value {
        json!({ "height": self.size.0, "width": self.size.1, "seed": self.stream.seed, "data_format": "channels_last" })
    }
}

impl RandomCrop {
    /// Reads Keras's config of this layer; `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = RandomCrop::new(cfg::usize_field(l, config, "height")?, cfg::usize_field(l, config, "width")?);
        layer.stream.seed = seed_field(l, config)?;
        Ok(Box::new(layer))
    }
}
