//! The geometry of a 2-D sliding window (convolution or pooling) over an
//! NHWC batch, with Keras's `valid` and `same` padding rules.

/// How a sliding window treats the border, as Keras names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding: windows stay inside the input; output = floor((in - k) / s) + 1.
    Valid,
    /// Pad so that output = ceil(in / s); the extra row/column goes at the bottom/right.
    Same,
}

impl Padding {
    /// Keras's string for this padding.
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
    /// Parses Keras's string (`"valid"` or `"same"`, any case).
    pub fn parse(s: &str) -> Option<Padding> {
        match s.to_ascii_lowercase().as_str() {
            "valid" => Some(Padding::Valid),
            "same" => Some(Padding::Same),
            _ => None,
        }
    }
}

/// Sizes of one window pass: input `[n, h, w, c]`, window `kh x kw`,
/// strides, padding before the first row/column, and output `oh x ow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Images in the batch.
    pub n: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Zero rows padded above the input (`same` padding only).
    pub pad_top: usize,
    /// Zero columns padded left of the input (`same` padding only).
    pub pad_left: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// Output length and padding-before along one axis, or `None` when no window fits.
pub fn output_len(input: usize, k: usize, s: usize, padding: Padding) -> Option<(usize, usize)> {
    if k == 0 || s == 0 {
        return None;
    }
    match padding {
        Padding::Valid => (input >= k).then(|| ((input - k) / s + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(s);
            let total = ((out.max(1) - 1) * s + k).saturating_sub(input);
            (out > 0).then_some((out, total / 2))
        }
    }
}

impl Window {
    /// Geometry for `input = [n, h, w, c]`, or `None` when the window does not fit.
    pub fn new(input: [usize; 4], kernel: (usize, usize), strides: (usize, usize), padding: Padding) -> Option<Window> {
        let [n, h, w, c] = input;
        let (oh, pad_top) = output_len(h, kernel.0, strides.0, padding)?;
        let (ow, pad_left) = output_len(w, kernel.1, strides.1, padding)?;
        Some(Window { n, h, w, c, kh: kernel.0, kw: kernel.1, sh: strides.0, sw: strides.1, pad_top, pad_left, oh, ow })
    }
    /// Elements of one input image.
    pub fn image_len(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Output pixels per image.
    pub fn out_pixels(&self) -> usize {
        self.oh * self.ow
    }
    /// Input row for output row `oy` and kernel row `ky`, if inside the image.
    #[inline]
    pub fn in_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.sh + ky).checked_sub(self.pad_top).filter(|&y| y < self.h)
    }
    /// Input column for output column `ox` and kernel column `kx`, if inside the image.
    #[inline]
    pub fn in_col(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.sw + kx).checked_sub(self.pad_left).filter(|&x| x < self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_output_sizes() {
        assert_eq!(output_len(28, 3, 1, Padding::Valid), Some((26, 0)));
        assert_eq!(output_len(26, 2, 2, Padding::Valid), Some((13, 0)));
        assert_eq!(output_len(11, 2, 2, Padding::Valid), Some((5, 0)));
        assert_eq!(output_len(28, 3, 1, Padding::Same), Some((28, 1)));
        assert_eq!(output_len(5, 2, 2, Padding::Same), Some((3, 0)));
        assert_eq!(output_len(6, 3, 2, Padding::Same), Some((3, 0)));
        assert_eq!(output_len(7, 4, 1, Padding::Same), Some((7, 1)));
        assert_eq!(output_len(2, 3, 1, Padding::Valid), None);
    }
}
