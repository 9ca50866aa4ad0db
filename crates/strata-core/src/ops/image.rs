//! Image resampling, as Keras's TensorFlow backend computes it: resizing
//! (`ops.image.resize`: half-pixel centres, no antialiasing) and projective
//! transforms (`ops.image.affine_transform`, with its fill modes). Both are
//! one op, [`Resample`]: each output pixel is a weighted sum of at most four
//! source pixels (or the fill value), so its gradient is the same sum turned
//! around.

use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

/// How a resampled pixel between source pixels is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// The nearest source pixel.
    Nearest,
    /// The four surrounding source pixels, weighted by distance.
    Bilinear,
}

impl Interpolation {
    /// Keras's name.
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Nearest => "nearest",
            Interpolation::Bilinear => "bilinear",
        }
    }
    /// Reads Keras's name; `None` for others (bicubic, lanczos, ... are not implemented).
    pub fn parse(s: &str) -> Option<Interpolation> {
        match s {
            "nearest" => Some(Interpolation::Nearest),
            "bilinear" => Some(Interpolation::Bilinear),
            _ => None,
        }
    }
}

/// What a projective transform reads outside the source image, as
/// TensorFlow's `ImageProjectiveTransformV3` defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillMode {
    /// The fill value.
    Constant,
    /// The nearest edge pixel: `aaaa|abcd|dddd`.
    Nearest,
    /// The image repeated: `abcd|abcd|abcd`.
    Wrap,
    /// The image reflected about its edge: `dcba|abcd|dcba`.
    Reflect,
}

impl FillMode {
    /// Keras's name.
    pub fn name(self) -> &'static str {
        match self {
            FillMode::Constant => "constant",
            FillMode::Nearest => "nearest",
            FillMode::Wrap => "wrap",
            FillMode::Reflect => "reflect",
        }
    }
    /// Reads Keras's name; `None` for others.
    pub fn parse(s: &str) -> Option<FillMode> {
        [FillMode::Constant, FillMode::Nearest, FillMode::Wrap, FillMode::Reflect].into_iter().find(|m| m.name() == s)
    }

    /// TensorFlow's mapping of a source coordinate outside `[0, len - 1]` back
    /// inside (the constant mode leaves it, to be read as the fill value).
    fn map(self, coord: f32, len: usize) -> f32 {
        let last = len as f32 - 1.0;
        let inside = |c: f32| c.clamp(0.0, last);
        if (0.0..=last).contains(&coord) || self == FillMode::Constant {
            return coord;
        }
        if len <= 1 {
            return 0.0;
        }
        let len_i = len as i64;
        match self {
            FillMode::Constant => coord,
            FillMode::Nearest => inside(coord),
            FillMode::Wrap => {
                let sz = (len_i - 1) as f32;
                inside(match coord < 0.0 {
                    true => coord + len as f32 * (((-coord / sz) as i64) + 1) as f32,
                    false => coord - len as f32 * ((coord / sz) as i64) as f32,
                })
            }
            FillMode::Reflect => {
                let sz2 = (2 * len_i) as f32;
                let mut c = coord;
                if c < 0.0 {
                    if c < sz2 {
                        c += sz2 * ((-c / sz2) as i64) as f32;
                    }
                    c = if c < -(len as f32) { c + sz2 } else { -c - 1.0 };
                } else {
                    c -= sz2 * ((c / sz2) as i64) as f32;
                    if c >= len as f32 {
                        c = sz2 - c - 1.0;
                    }
                }
                inside(c)
            }
        }
    }
}

/// A source pixel index that stands for the fill value.
pub const FILL: u32 = u32::MAX;

/// A resampling of NHWC images: output pixel `p` of image `b` is
/// `Σ w · source[b][i]` over its four taps `(i, w)` (`i` = FILL reads `fill`).
#[derive(Clone, Debug)]
pub struct Resample {
    /// Output height and width.
    pub out: (usize, usize),
    /// Taps per output pixel: `out.0 * out.1` entries, or that many per image
    /// when each image has its own transform.
    pub taps: Vec<[(u32, f32); 4]>,
    /// Whether `taps` has one block per image.
    pub per_image: bool,
    /// The value read outside the image (constant fill).
    pub fill: f32,
}

impl Tensor {
    /// NHWC images resized to `size` (height, width), as `keras.ops.image.resize`
    /// (TensorFlow's half-pixel centres, no antialiasing).
    pub fn resize(&self, size: (usize, usize), interpolation: Interpolation) -> Result<Tensor> {
        let (h, w) = image_dims("resize", self)?;
        if size.0 == 0 || size.1 == 0 {
            return Err(Error::shape("resize", format!("size must be positive, got {size:?}")));
        }
        let (rows, cols) = (axis_taps(h, size.0, interpolation), axis_taps(w, size.1, interpolation));
        let mut taps = Vec::with_capacity(size.0 * size.1);
        for &[(y0, wy0), (y1, wy1)] in &rows {
            for &[(x0, wx0), (x1, wx1)] in &cols {
                let at = |y: usize, x: usize| (y * w + x) as u32;
                taps.push([(at(y0, x0), wy0 * wx0), (at(y0, x1), wy0 * wx1), (at(y1, x0), wy1 * wx0), (at(y1, x1), wy1 * wx1)]);
            }
        }
        Ok(self.backend().resample(self, &Resample { out: size, taps, per_image: false, fill: 0.0 }))
    }

    /// `keras.ops.image.affine_transform`: output pixel `(x, y)` of image `b`
    /// reads the source at `((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)`,
    /// `k = c0 x + c1 y + 1`, for `transforms[b] = [a0, a1, a2, b0, b1, b2, c0, c1]`
    /// (one transform for the whole batch, or one per image).
    pub fn affine_transform(&self, transforms: &[[f32; 8]], interpolation: Interpolation, fill_mode: FillMode, fill_value: f32) -> Result<Tensor> {
        let (h, w) = image_dims("affine_transform", self)?;
        let n = self.shape()[0];
        if transforms.len() != 1 && transforms.len() != n {
            return Err(Error::shape("affine_transform", format!("needs one transform or one per image ({n}), got {}", transforms.len())));
        }
        if let Some(t) = transforms.iter().find(|t| t.iter().any(|v| !v.is_finite())) {
            return Err(Error::argument("affine_transform", format!("transform {t:?} is not finite")));
        }
        let mut taps = Vec::with_capacity(transforms.len() * h * w);
        for t in transforms {
            for y in 0..h {
                for x in 0..w {
                    taps.push(projective_taps(t, (x as f32, y as f32), (h, w), interpolation, fill_mode));
                }
            }
        }
        let per_image = transforms.len() > 1;
        Ok(self.backend().resample(self, &Resample { out: (h, w), taps, per_image, fill: fill_value }))
    }
}

fn image_dims(op: &str, x: &Tensor) -> Result<(usize, usize)> {
    match x.shape() {
        &[_, h, w, c] if h > 0 && w > 0 && c > 0 => Ok((h, w)),
        s => Err(Error::shape(op, format!("expects NHWC images (rank 4, non-empty), got {}", fmt_shape(s)))),
    }
}

/// The two source positions and weights of each output position along one
/// axis of a resize from `len` to `out` (TensorFlow's half-pixel scalers).
fn axis_taps(len: usize, out: usize, interpolation: Interpolation) -> Vec<[(usize, f32); 2]> {
    let scale = len as f32 / out as f32;
    (0..out)
        .map(|i| match interpolation {
            Interpolation::Nearest => {
                let at = (((i as f32 + 0.5) * scale).floor().max(0.0) as usize).min(len - 1);
                [(at, 1.0), (at, 0.0)]
            }
            Interpolation::Bilinear => {
                let at = (i as f32 + 0.5) * scale - 0.5;
                let floor = at.floor();
                let lower = (floor.max(0.0) as usize).min(len - 1);
                let upper = (at.ceil().max(0.0) as usize).min(len - 1);
                let lerp = at - floor;
                [(lower, 1.0 - lerp), (upper, lerp)]
            }
        })
        .collect()
}

/// The taps of output pixel `(x, y)` under one projective transform.
fn projective_taps(t: &[f32; 8], (x, y): (f32, f32), (h, w): (usize, usize), interpolation: Interpolation, fill_mode: FillMode) -> [(u32, f32); 4] {
    const NONE: [(u32, f32); 4] = [(FILL, 1.0), (FILL, 0.0), (FILL, 0.0), (FILL, 0.0)];
    let k = t[6] * x + t[7] * y + 1.0;
    if k == 0.0 {
        return NONE;
    }
    let sx = fill_mode.map((t[0] * x + t[1] * y + t[2]) / k, w);
    let sy = fill_mode.map((t[3] * x + t[4] * y + t[5]) / k, h);
    let read = |yy: f32, xx: f32| -> u32 {
        match (0.0..h as f32).contains(&yy) && (0.0..w as f32).contains(&xx) {
            true => (yy as usize * w + xx as usize) as u32,
            false => FILL,
        }
    };
    match interpolation {
        // Rounded half away from zero, as std::round.
        Interpolation::Nearest => [(read(sy.round(), sx.round()), 1.0), (FILL, 0.0), (FILL, 0.0), (FILL, 0.0)],
        Interpolation::Bilinear => {
            let (y0, x0) = (sy.floor(), sx.floor());
            let (y1, x1) = (y0 + 1.0, x0 + 1.0);
            let (wy0, wy1, wx0, wx1) = (y1 - sy, sy - y0, x1 - sx, sx - x0);
            [(read(y0, x0), wy0 * wx0), (read(y0, x1), wy0 * wx1), (read(y1, x0), wy1 * wx0), (read(y1, x1), wy1 * wx1)]
        }
    }
}
