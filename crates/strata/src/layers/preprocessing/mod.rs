//! Preprocessing and augmentation layers for images, as Keras's. The
//! augmentations (`RandomFlip`, `RandomRotation`, ...) transform only in
//! training, each drawing from its own random stream (seeded by the model,
//! saved in checkpoints), and pass images through unchanged at inference.
//! The preprocessing layers (`Rescaling`, `Resizing`, `CenterCrop`,
//! `Normalization`) act the same in both. Any of them also runs on a
//! dataset's reading thread ([`crate::data::dataset::Dataset::augment`]).
//! Audio (`STFTSpectrogram`, `MelSpectrogram`) and text
//! (`TextVectorization`) come in through layers of their own.

mod audio;
mod color;
mod crop;
mod geometric;
mod mel;
mod normalization;
mod stft;
mod text_vectorization;
mod tokenize;

pub use color::{RandomBrightness, RandomColor, RandomContrast};
pub use crop::{CenterCrop, RandomCrop, Resizing};
pub use geometric::{RandomAffine, RandomFlip, RandomRotation, RandomTranslation, RandomZoom};
pub use mel::{mel_weight_matrix, MelSpectrogram};
pub use normalization::{Normalization, Rescaling};
pub use stft::STFTSpectrogram;
pub use text_vectorization::{TextVectorization, OOV};
pub use tokenize::{Split, Standardize, TextOutput};

use serde_json::Value;
use strata_core::ops::{FillMode, Interpolation};
use strata_core::{fmt_shape, Error, Result};

use super::config as cfg;

/// `(height, width, channels)` of an image input shape, or an error naming the layer.
fn image_shape(layer: &str, class: &str, input_shape: &[usize]) -> Result<(usize, usize, usize)> {
    match input_shape {
        &[h, w, c] if h > 0 && w > 0 && c > 0 => Ok((h, w, c)),
        _ => Err(Error::layer(layer, format!("{class} expects images of shape (height, width, channels), received input_shape={}", fmt_shape(input_shape)))),
    }
}

/// A range of random factors, as Keras reads one: a number `f` is `(-f, f)`,
/// a pair is its sorted bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Factor(pub f32, pub f32);

/// A number or a pair, read as a [`Factor`].
pub trait IntoFactor {
    /// The range.
    fn into_factor(self) -> Factor;
    /// Whether it is one number (Keras clamps some layers' lower bound then).
    fn is_number(&self) -> bool {
        false
    }
}

impl IntoFactor for f32 {
    fn into_factor(self) -> Factor {
        Factor(-self.abs(), self.abs())
    }
    fn is_number(&self) -> bool {
        true
    }
}

impl IntoFactor for (f32, f32) {
    fn into_factor(self) -> Factor {
        Factor(self.0.min(self.1), self.0.max(self.1))
    }
}

impl IntoFactor for Factor {
    fn into_factor(self) -> Factor {
        self
    }
}

impl Factor {
    /// Refuses bounds outside `(low, high]` (`inclusive_low` includes `low`), naming the layer and argument.
    fn check(self, layer: &str, name: &str, (low, high): (f32, f32), inclusive_low: bool) -> Result<()> {
        let ok = |v: f32| v.is_finite() && v <= high && (v > low || (inclusive_low && v == low));
        match ok(self.0) && ok(self.1) {
            true => Ok(()),
            false => Err(Error::layer(layer, format!("{name} must be a number or a pair of numbers in {}{low}, {high}], received {name}=({}, {})", if inclusive_low { "[" } else { "(" }, self.0, self.1))),
        }
    }
    /// Keras's `_set_factor` rule (rotation, contrast, brightness): finite,
    /// and the range must meet `[low, high]`.
    fn check_overlap(self, layer: &str, name: &str, (low, high): (f32, f32)) -> Result<()> {
        match self.0.is_finite() && self.1.is_finite() && self.0 <= high && self.1 >= low {
            true => Ok(()),
            false => Err(Error::layer(layer, format!("{name} should be a number (or a pair of numbers) in the range [{low}, {high}], received {name}=({}, {})", self.0, self.1))),
        }
    }
    fn config(self) -> Value {
        serde_json::json!([self.0, self.1])
    }
    /// Reads a number or a pair from `config[name]`.
    fn from_config(layer: &str, config: &Value, name: &str) -> Result<Factor> {
        let v = cfg::field(layer, config, name)?;
        let bad = || cfg::bad(layer, name, "a number or a pair of numbers", v);
        match v {
            Value::Number(n) => Ok((n.as_f64().ok_or_else(bad)? as f32).into_factor()),
            Value::Array(a) if a.len() == 2 => {
                let (x, y) = (a[0].as_f64().ok_or_else(bad)?, a[1].as_f64().ok_or_else(bad)?);
                Ok((x as f32, y as f32).into_factor())
            }
            _ => Err(bad()),
        }
    }
}

/// Reads `fill_mode` (default `reflect`), `interpolation` (default `bilinear`) and `fill_value`.
fn fill_fields(layer: &str, config: &Value) -> Result<(FillMode, Interpolation, f32)> {
    let text = |name: &str, default: &'static str| config.get(name).and_then(Value::as_str).unwrap_or(default).to_string();
    let fill = FillMode::parse(&text("fill_mode", "reflect")).ok_or_else(|| cfg::bad(layer, "fill_mode", "'reflect', 'wrap', 'constant' or 'nearest'", &config["fill_mode"]))?;
    let interpolation = Interpolation::parse(&text("interpolation", "bilinear")).ok_or_else(|| cfg::bad(layer, "interpolation", "'bilinear' or 'nearest'", &config["interpolation"]))?;
    Ok((fill, interpolation, cfg::num_field(layer, config, "fill_value", 0.0)?))
}

/// Reads `value_range` (default `[0, 255]`).
fn value_range_field(layer: &str, config: &Value) -> Result<(f32, f32)> {
    match config.get("value_range") {
        None | Some(Value::Null) => Ok((0.0, 255.0)),
        Some(v) => match v.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect::<Vec<_>>()) {
            Some(a) if a.len() == 2 => Ok((a[0] as f32, a[1] as f32)),
            _ => Err(cfg::bad(layer, "value_range", "a pair of numbers", v)),
        },
    }
}
