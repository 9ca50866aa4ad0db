//! What the two spectrogram layers share: window functions, the cut of a
//! signal into overlapping frames (one gather, so the gradient flows back
//! to the samples), and the discrete Fourier transform as a matrix.

use strata_core::{Error, Result, Tensor};

/// The longest transform: both layers compute it as a matrix product of
/// `fft_length` by about `fft_length` values (67 MB at 4096 points, 268 MB at 8192).
pub(super) const MAX_FFT_LENGTH: usize = 8192;

/// The windows both layers know, by scipy's and TensorFlow's names.
const WINDOWS: &[&str] = &["hann", "hamming", "blackman", "boxcar"];

/// `n` values of window `name` (scipy's `get_window(name, n, fftbins=periodic)`:
/// periodic windows are the first `n` of the symmetric `n + 1`); `layer` names it in errors.
pub(super) fn window(layer: &str, name: &str, n: usize, periodic: bool) -> Result<Vec<f64>> {
    if !WINDOWS.contains(&name) {
        return Err(Error::layer(layer, format!("window must be one of {} or None, received window='{name}'", WINDOWS.join(", "))));
    }
    let m = if periodic { n } else { n.saturating_sub(1) };
    if m == 0 {
        return Ok(vec![1.0; n]);
    }
    let cos = |k: usize, times: f64| (times * std::f64::consts::TAU * k as f64 / m as f64).cos();
    Ok((0..n)
        .map(|k| match name {
            "hann" => 0.5 - 0.5 * cos(k, 1.0),
            "hamming" => 0.54 - 0.46 * cos(k, 1.0),
            "blackman" => 0.42 - 0.5 * cos(k, 1.0) + 0.08 * cos(k, 2.0),
            _ => 1.0,
        })
        .collect())
}

/// How a signal is extended before it is cut into frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Extend {
    /// Zeros: this many before and after.
    Zeros(usize, usize),
    /// Mirrored about the first and last samples (NumPy's `reflect`), this many each side.
    Reflect(usize),
}

/// `x` `[rows, n]` cut into frames `[rows, frames, length]`, `stride` apart,
/// after extending it; `layer` names it in errors.
pub(super) fn frames(layer: &str, x: &Tensor, length: usize, stride: usize, extend: Extend) -> Result<Tensor> {
    let &[rows, n] = x.shape() else {
        return Err(Error::layer(layer, format!("expected signals [rows, samples], got {}", strata_core::fmt_shape(x.shape()))));
    };
    let (before, after) = match extend {
        Extend::Zeros(b, a) => (b, a),
        Extend::Reflect(p) if p < n => (p, p),
        Extend::Reflect(p) => return Err(Error::layer(layer, format!("needs more than {p} samples to pad each side by reflection, received {n}"))),
    };
    let padded = n + before + after;
    if padded < length || stride == 0 {
        return Err(Error::layer(layer, format!("a signal of {n} samples ({padded} padded) is shorter than one frame of {length}")));
    }
    let count = (padded - length) / stride + 1;
    // Positions past the end (index n) read one zero appended to each row.
    let source = |q: usize| -> usize {
        let i = q as isize - before as isize;
        match extend {
            Extend::Reflect(_) if i < 0 => (-i) as usize,
            Extend::Reflect(_) if i >= n as isize => 2 * (n - 1) - i as usize,
            Extend::Zeros(..) if i < 0 || i >= n as isize => n,
            _ => i as usize,
        }
    };
    let indices: Vec<usize> = (0..count).flat_map(|f| (0..length).map(move |t| f * stride + t)).map(source).collect();
    let source_tensor = match extend {
        Extend::Zeros(b, a) if b + a > 0 => Tensor::concat(&[x.clone(), Tensor::zeros(&[rows, 1])], 1)?,
        _ => x.clone(),
    };
    source_tensor.gather(1, &indices)?.reshape(&[rows as isize, count as isize, length as isize])
}

/// The real and imaginary DFT rows of `bins` frequencies over `taps`
/// samples, each multiplied by `window[t] / scale`: `[taps, bins]` each,
/// `cos(2 pi t k / period)` and `-sin(...)`, computed in f64.
pub(super) fn dft_kernels(taps: usize, bins: usize, period: usize, window: Option<&[f64]>, scale: f64) -> (Vec<f32>, Vec<f32>) {
    let mut real = Vec::with_capacity(taps * bins);
    let mut imag = Vec::with_capacity(taps * bins);
    for t in 0..taps {
        let w = window.map_or(1.0, |w| w[t]) / scale;
        for k in 0..bins {
            // Reduce t * k modulo the period first: the angle stays exact for long transforms.
            let angle = std::f64::consts::TAU * ((t * k) % period) as f64 / period as f64;
            real.push((angle.cos() * w) as f32);
            imag.push((-angle.sin() * w) as f32);
        }
    }
    (real, imag)
}
