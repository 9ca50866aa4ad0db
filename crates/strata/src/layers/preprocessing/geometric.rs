//! The geometric augmentations: `RandomFlip`, `RandomRotation`,
//! `RandomZoom` and `RandomTranslation`. Each draws a transform per image
//! (as Keras 3 computes it) and resamples through one projective-transform op.

use serde_json::{json, Value};
use strata_core::ops::{FillMode, Interpolation};
use strata_core::{Error, Result, Rng, Tensor};

use super::super::random::{random_stream_methods, seed_field, RandomStream};
use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use super::{fill_fields, image_shape, Factor, IntoFactor};

/// What an augmentation draws.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Flip each image (with probability 1/2) left-right and/or upside down.
    Flip { horizontal: bool, vertical: bool },
    /// Rotate by a fraction of a full turn drawn from the factor.
    Rotation(Factor),
    /// Zoom by `1 + f`, f drawn per axis (the width's, when `None`, is the height's).
    Zoom(Factor, Option<Factor>),
    /// Shift by a fraction of the height and of the width.
    Translation(Factor, Factor),
}

/// A random geometric augmentation; made by [`RandomFlip`], [`RandomRotation`],
/// [`RandomZoom`] or [`RandomTranslation`].
///
/// # Shapes
/// output shape = input shape `(batch, height, width, channels)`.
pub struct RandomAffine {
    base: LayerBase,
    kind: Kind,
    fill_mode: FillMode,
    interpolation: Interpolation,
    fill_value: f32,
    stream: RandomStream,
    /// `(height, width, channels)`, set by build.
    built: Option<Vec<usize>>,
}

/// Flips images left-right and/or upside down, each with probability 1/2 (Keras's `RandomFlip`).
pub struct RandomFlip;
/// Rotates images by a random fraction of a turn (Keras's `RandomRotation`).
pub struct RandomRotation;
/// Zooms images in or out by a random factor (Keras's `RandomZoom`).
pub struct RandomZoom;
/// Shifts images by a random fraction of their size (Keras's `RandomTranslation`).
pub struct RandomTranslation;

impl RandomFlip {
    /// `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"` (Keras's default;
    /// one draw per image flips it both ways).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(mode: &str) -> RandomAffine {
        let (horizontal, vertical) = (mode.contains("horizontal"), mode.contains("vertical"));
        let mut layer = RandomAffine::new("RandomFlip", Kind::Flip { horizontal, vertical });
        if !matches!(mode, "horizontal" | "vertical" | "horizontal_and_vertical") {
            layer.base.keep_error::<()>(Err(Error::argument("RandomFlip", format!("mode must be 'horizontal', 'vertical' or 'horizontal_and_vertical', received mode='{mode}'"))));
        }
        layer
    }
}

impl RandomRotation {
    /// Angles drawn from `factor` turns: `0.1` is up to ±36 degrees, `(-0.1, 0.2)` a range.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(factor: impl IntoFactor) -> RandomAffine {
        RandomAffine::new("RandomRotation", Kind::Rotation(factor.into_factor()))
    }
}

impl RandomZoom {
    /// Height zoom `1 + f`, f drawn from `height_factor` (negative zooms in,
    /// positive out); the width keeps the aspect unless [`RandomAffine::width_factor`] is set.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(height_factor: impl IntoFactor) -> RandomAffine {
        RandomAffine::new("RandomZoom", Kind::Zoom(height_factor.into_factor(), None))
    }
}

impl RandomTranslation {
    /// Shifts by fractions of the height and width drawn from each factor.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(height_factor: impl IntoFactor, width_factor: impl IntoFactor) -> RandomAffine {
        RandomAffine::new("RandomTranslation", Kind::Translation(height_factor.into_factor(), width_factor.into_factor()))
    }
}

impl RandomAffine {
    fn new(class: &'static str, kind: Kind) -> RandomAffine {
        RandomAffine {
            base: LayerBase::new(class),
            kind,
            fill_mode: FillMode::Reflect,
            interpolation: Interpolation::Bilinear,
            fill_value: 0.0,
            stream: RandomStream::default(),
            built: None,
        }
    }
    /// What is read outside the image: `"reflect"` (default), `"wrap"`, `"constant"`, `"nearest"`.
    pub fn fill_mode(mut self, mode: &str) -> Self {
        let parsed = FillMode::parse(mode).ok_or_else(|| Error::argument(self.class_name(), format!("fill_mode must be 'reflect', 'wrap', 'constant' or 'nearest', received fill_mode='{mode}'")));
        if let Some(m) = self.base.keep_error(parsed) {
            self.fill_mode = m;
        }
        self
    }
    /// `"bilinear"` (default) or `"nearest"`.
    pub fn interpolation(mut self, interpolation: &str) -> Self {
        let parsed = Interpolation::parse(interpolation).ok_or_else(|| Error::argument(self.class_name(), format!("interpolation must be 'bilinear' or 'nearest', received interpolation='{interpolation}'")));
        if let Some(i) = self.base.keep_error(parsed) {
            self.interpolation = i;
        }
        self
    }
    /// The value read outside the image with `fill_mode("constant")` (default 0).
    pub fn fill_value(mut self, value: f32) -> Self {
        self.fill_value = value;
        self
    }
    /// `RandomZoom` only: the width's own zoom range (default: the height's zoom, keeping the aspect).
    pub fn width_factor(mut self, factor: impl IntoFactor) -> Self {
        match &mut self.kind {
            Kind::Zoom(_, w) => *w = Some(factor.into_factor()),
            _ => {
                self.base.keep_error::<()>(Err(Error::argument(self.class_name(), "width_factor is RandomZoom's argument")));
            }
        }
        self
    }
    /// Seeds this layer's own stream (default: drawn from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.stream.seed = Some(seed);
        self
    }

    /// Keras's bounds on the factors.
    fn check(&self) -> Result<()> {
        let l = &self.base.name;
        match self.kind {
            Kind::Flip { .. } => Ok(()),
            Kind::Rotation(f) => f.check_overlap(l, "factor", (-1.0, 1.0)),
            Kind::Zoom(h, w) => {
                h.check(l, "height_factor", (-1.0, 1.0), false)?;
                w.map_or(Ok(()), |w| w.check(l, "width_factor", (-1.0, 1.0), false))
            }
            Kind::Translation(h, w) => {
                h.check(l, "height_factor", (-1.0, 1.0), true)?;
                w.check(l, "width_factor", (-1.0, 1.0), true)
            }
        }
    }

    /// One image's transform `[a0, a1, a2, b0, b1, b2, c0, c1]` (output pixel -> source pixel).
    fn draw(&self, rng: &mut Rng, (h, w): (f32, f32)) -> [f32; 8] {
        let uniform = |rng: &mut Rng, f: Factor| rng.uniform_range(f.0, f.1);
        match self.kind {
            Kind::Flip { horizontal, vertical } => {
                let flip = rng.uniform() <= 0.5;
                let (sx, sy) = (if flip && horizontal { -1.0 } else { 1.0 }, if flip && vertical { -1.0 } else { 1.0 });
                [sx, 0.0, if sx < 0.0 { w - 1.0 } else { 0.0 }, 0.0, sy, if sy < 0.0 { h - 1.0 } else { 0.0 }, 0.0, 0.0]
            }
            Kind::Rotation(f) => {
                let angle = (uniform(rng, Factor(f.0 * 360.0, f.1 * 360.0))).to_radians();
                let (cx, cy) = (0.5 * (w - 1.0), 0.5 * (h - 1.0));
                let (cos, sin) = (angle.cos(), angle.sin());
                let (a0, a1, b0, b1) = (cos, -sin, sin, cos);
                [a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1, 0.0, 0.0]
            }
            Kind::Zoom(hf, wf) => {
                let zy = 1.0 + uniform(rng, hf);
                let zx = wf.map_or(zy, |wf| 1.0 + uniform(rng, wf));
                [zx, 0.0, (w - 1.0) / 2.0 * (1.0 - zx), 0.0, zy, (h - 1.0) / 2.0 * (1.0 - zy), 0.0, 0.0]
            }
            Kind::Translation(hf, wf) => {
                let dy = uniform(rng, hf) * h;
                let dx = uniform(rng, wf) * w;
                [1.0, 0.0, -dx, 0.0, 1.0, -dy, 0.0, 0.0]
            }
        }
    }
}

impl Layer for RandomAffine {
    fn class_name(&self) -> &'static str {
        match self.kind {
            Kind::Flip { .. } => "RandomFlip",
            Kind::Rotation(_) => "RandomRotation",
            Kind::Zoom(..) => "RandomZoom",
            Kind::Translation(..) => "RandomTranslation",
        }
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.base.check()?;
        image_shape(&self.base.name, self.class_name(), input_shape)?;
        self.check()?;
        self.stream.start(rng);
        self.built = Some(input_shape.to_vec());
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let shape = self.built.as_ref().ok_or_else(|| not_built(self))?;
        check_input(self, x, shape)?;
        if !training {
            return Ok(x.clone());
        }
        let size = (shape[0] as f32, shape[1] as f32);
        let transforms: Vec<[f32; 8]> = self.stream.draw_rows(&self.base.name, x.shape()[0], 1, |rng| self.draw(rng, size))?;
        if transforms.is_empty() {
            return Ok(x.clone());
        }
        x.affine_transform(&transforms, self.interpolation, self.fill_mode, self.fill_value)
    }
    random_stream_methods!();
    fn own_config(&self) -> Value {
        let fill = json!({
            "fill_mode": self.fill_mode.name(),
            "interpolation": self.interpolation.name(),
            "fill_value": self.fill_value,
            "seed": self.stream.seed,
            "data_format": "channels_last",
        });
        let mut config = match self.kind {
            Kind::Flip { horizontal, vertical } => {
                let mode = match (horizontal, vertical) {
                    (true, true) => "horizontal_and_vertical",
                    (true, false) => "horizontal",
                    _ => "vertical",
                };
                return json!({ "mode": mode, "seed": self.stream.seed, "data_format": "channels_last" });
            }
            Kind::Rotation(f) => json!({ "factor": f.config() }),
            Kind::Zoom(h, w) => json!({ "height_factor": h.config(), "width_factor": w.map(Factor::config) }),
            Kind::Translation(h, w) => json!({ "height_factor": h.config(), "width_factor": w.config() }),
        };
        if let (Value::Object(c), Value::Object(f)) = (&mut config, fill) {
            c.extend(f);
        }
        config
    }
}

impl RandomAffine {
    /// Reads Keras's config of `RandomFlip`.
    pub(crate) fn flip_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mode = config.get("mode").and_then(Value::as_str).unwrap_or("horizontal_and_vertical");
        let mut layer = RandomFlip::new(mode);
        layer.base.check().map_err(|e| e.in_layer(l))?;
        layer.stream.seed = seed_field(l, config)?;
        Ok(Box::new(layer))
    }
    /// Reads Keras's config of `RandomRotation`, `RandomZoom` or `RandomTranslation`.
    pub(crate) fn rotation_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Self::with_fill(l, config, RandomRotation::new(Factor::from_config(l, config, "factor")?))
    }
    pub(crate) fn zoom_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = RandomZoom::new(Factor::from_config(l, config, "height_factor")?);
        if config.get("width_factor").is_some_and(|w| !w.is_null()) {
            layer = layer.width_factor(Factor::from_config(l, config, "width_factor")?);
        }
        Self::with_fill(l, config, layer)
    }
    pub(crate) fn translation_from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let layer = RandomTranslation::new(Factor::from_config(l, config, "height_factor")?, Factor::from_config(l, config, "width_factor")?);
        Self::with_fill(l, config, layer)
    }
    fn with_fill(l: &str, config: &Value, mut layer: RandomAffine) -> Result<Box<dyn Layer>> {
        (layer.fill_mode, layer.interpolation, layer.fill_value) = fill_fields(l, config)?;
        layer.stream.seed = seed_field(l, config)?;
        Ok(Box::new(layer))
    }
}
