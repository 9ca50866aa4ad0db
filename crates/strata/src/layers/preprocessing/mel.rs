//! `MelSpectrogram`: Keras 3's mel-scaled power spectrogram of raw audio
//! (a centred STFT with the signal mirrored at both ends, power, the HTK
//! mel filter bank, decibels), built from differentiable ops.

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, not_built, Layer, LayerBase};
use super::audio::{dft_kernels, frames, window, Extend, MAX_FFT_LENGTH};
use crate::layers::config as cfg;

/// The HTK mel scale: `1127 ln(1 + f / 700)`.
fn hertz_to_mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

/// Keras's `linear_to_mel_weight_matrix`: `[bins, mels]` triangles of peak 1
/// between `low` and `high` Hz, evenly spaced in mels; bin 0 (DC) gets none.
pub fn mel_weight_matrix(mels: usize, bins: usize, rate: f64, low: f64, high: f64) -> Vec<f32> {
    let edges: Vec<f64> = (0..mels + 2).map(|i| hertz_to_mel(low) + (hertz_to_mel(high) - hertz_to_mel(low)) * i as f64 / (mels + 1) as f64).collect();
    let mut matrix = vec![0.0f32; bins * mels];
    for b in 1..bins {
        let mel = hertz_to_mel(rate / 2.0 * b as f64 / (bins - 1) as f64);
        for m in 0..mels {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            matrix[b * mels + m] = ((mel - lo) / (mid - lo)).min((hi - mel) / (hi - mid)).max(0.0) as f32;
        }
    }
    matrix
}

/// Mel spectrogram of raw audio `(batch, samples)` (Keras's
/// `MelSpectrogram`): the signal mirrored by `fft_length / 2` at each end,
/// frames of `sequence_length` samples (default `fft_length`) every
/// `sequence_stride`, windowed (periodic `hann` or `hamming`, centred in
/// `fft_length` points, or none), the magnitude raised to `mag_exp`, summed
/// by `num_mel_bins` triangular filters from `min_freq` to `max_freq`
/// (default half of `sampling_rate`, rounded down), and with `power_to_db`, `10 log10`
/// of it (floored at `min_power`, relative to `ref_power`), no lower than
/// `top_db` below the largest value of the whole batch, as Keras does.
///
/// # Shapes
/// input `(batch, samples)`, output `(batch, num_mel_bins, frames)` with
/// `frames = 1 + (samples - fft_length % 2) / sequence_stride`.
pub struct MelSpectrogram {
    base: LayerBase,
    fft_length: usize,
    sequence_stride: usize,
    sequence_length: Option<usize>,
    window: Option<String>,
    sampling_rate: f64,
    num_mel_bins: usize,
    min_freq: f64,
    max_freq: Option<f64>,
    power_to_db: bool,
    top_db: Option<f32>,
    mag_exp: f32,
    min_power: f64,
    ref_power: f64,
    built: Option<Built>,
}

struct Built {
    samples: usize,
    /// `[fft_length, 2 * bins]`: windowed cosines then sines.
    dft: Tensor,
    /// `[bins, num_mel_bins]`.
    mel: Tensor,
}

impl MelSpectrogram {
    /// Keras's defaults except the rate: 2048-point frames every 512 samples,
    /// Hann window, 128 mel bins from 20 Hz, power in decibels, 80 dB range.
    pub fn new(sampling_rate: u32) -> Self {
        MelSpectrogram {
            base: LayerBase::new("MelSpectrogram"),
            fft_length: 2048,
            sequence_stride: 512,
            sequence_length: None,
            window: Some("hann".into()),
            sampling_rate: sampling_rate as f64,
            num_mel_bins: 128,
            min_freq: 20.0,
            max_freq: None,
            power_to_db: true,
            top_db: Some(80.0),
            mag_exp: 2.0,
            min_power: 1e-10,
            ref_power: 1.0,
            built: None,
        }
    }
    /// Points of each transform, and the frame length unless set.
    pub fn fft_length(mut self, n: usize) -> Self {
        self.fft_length = n;
        self
    }
    /// Samples between frames.
    pub fn sequence_stride(mut self, n: usize) -> Self {
        self.sequence_stride = n;
        self
    }
    /// Samples per frame (at most `fft_length`).
    pub fn sequence_length(mut self, n: usize) -> Self {
        self.sequence_length = Some(n);
        self
    }
    /// Number of mel filters.
    pub fn num_mel_bins(mut self, n: usize) -> Self {
        self.num_mel_bins = n;
        self
    }
    /// The filters' frequency range in Hz (`high` default: half the rate).
    pub fn freq_range(mut self, low: f64, high: Option<f64>) -> Self {
        (self.min_freq, self.max_freq) = (low, high);
        self
    }
    /// Whether to output decibels (default) or the mel power itself.
    pub fn power_to_db(mut self, on: bool) -> Self {
        self.power_to_db = on;
        self
    }
    /// Decibels no lower than this far below the batch's largest value
    /// (default 80; `None`, or more than the range down to `min_power`, for
    /// outputs that do not depend on the rest of the batch).
    pub fn top_db(mut self, top_db: Option<f32>) -> Self {
        self.top_db = top_db;
        self
    }
    /// The sample rate the layer expects (for `strata predict` on WAV files).
    pub fn sampling_rate(&self) -> f64 {
        self.sampling_rate
    }
    fn frame(&self) -> usize {
        self.sequence_length.unwrap_or(self.fft_length)
    }
    fn high(&self) -> f64 {
        self.max_freq.unwrap_or((self.sampling_rate / 2.0).trunc())
    }
    fn check(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::layer(&self.base.name, msg));
        if self.fft_length < 2 || self.frame() == 0 || self.frame() > self.fft_length || self.sequence_stride == 0 || self.num_mel_bins == 0 {
            return fail(format!(
                "needs fft_length >= sequence_length > 0 (and fft_length >= 2), sequence_stride > 0 and num_mel_bins > 0, received fft_length={}, sequence_length={}, sequence_stride={}, num_mel_bins={}",
                self.fft_length, self.frame(), self.sequence_stride, self.num_mel_bins
            ));
        }
        if self.fft_length > MAX_FFT_LENGTH || self.num_mel_bins > MAX_FFT_LENGTH {
            return fail(format!("computes its transform as a matrix product and takes fft_length and num_mel_bins up to {MAX_FFT_LENGTH}, received fft_length={}, num_mel_bins={}", self.fft_length, self.num_mel_bins));
        }
        // As Keras, filters may reach past the Nyquist frequency (their upper part is then empty).
        if !(self.sampling_rate > 0.0 && self.sampling_rate <= 1e7) || !(0.0..self.high()).contains(&self.min_freq) {
            return fail(format!("needs a sampling_rate up to 10 MHz and 0 <= min_freq < max_freq, received min_freq={}, max_freq={}, sampling_rate={}", self.min_freq, self.high(), self.sampling_rate));
        }
        if let Some(w) = self.window.as_deref().filter(|w| !["hann", "hamming"].contains(w)) {
            return fail(format!("window must be 'hann', 'hamming' or None, received window='{w}'"));
        }
        if !(self.min_power > 0.0 && self.min_power as f32 > 0.0) || !self.mag_exp.is_finite() || self.top_db.is_some_and(|t| !(t >= 0.0)) {
            return fail(format!("needs min_power > 0, a finite mag_exp and top_db >= 0, received min_power={}, mag_exp={}, top_db={:?}", self.min_power, self.mag_exp, self.top_db));
        }
        Ok(())
    }
}

impl Layer for MelSpectrogram {
    fn class_name(&self) -> &'static str {
        "MelSpectrogram"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.check()?;
        let &[samples] = input_shape else {
            return Err(Error::layer(&self.base.name, format!("MelSpectrogram expects raw audio (batch, samples), received input_shape={}", fmt_shape(input_shape))));
        };
        let half = self.fft_length / 2;
        if samples <= half {
            return Err(Error::layer(&self.base.name, format!("needs more than fft_length / 2 = {half} samples to mirror at each end, received {samples}")));
        }
        // The window (of sequence_length) sits centred in the fft_length-point frame.
        let (n, frame) = (self.fft_length, self.frame());
        let padded: Vec<f64> = match &self.window {
            Some(w) => {
                let values = window(&self.base.name, w, frame, true)?;
                let left = (n - frame) / 2;
                (0..n).map(|t| if t >= left && t < left + frame { values[t - left] } else { 0.0 }).collect()
            }
            None => vec![1.0; n],
        };
        let bins = n / 2 + 1;
        let (real, imag) = dft_kernels(n, bins, n, Some(&padded), 1.0);
        let dft: Vec<f32> = real.chunks(bins).zip(imag.chunks(bins)).flat_map(|(r, i)| r.iter().chain(i).copied()).collect();
        let mel = mel_weight_matrix(self.num_mel_bins, bins, self.sampling_rate, self.min_freq, self.high());
        self.built = Some(Built { samples, dft: Tensor::new(dft, &[n, 2 * bins])?, mel: Tensor::new(mel, &[bins, self.num_mel_bins])? });
        Ok(vec![self.num_mel_bins, 1 + (samples - (n - 2 * half)) / self.sequence_stride])
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let built = self.built.as_ref().ok_or_else(|| not_built(self))?;
        super::super::check_input(self, x, &[built.samples])?;
        let batch = x.shape()[0] as isize;
        let cut = frames(&self.base.name, x, self.fft_length, self.sequence_stride, Extend::Reflect(self.fft_length / 2))?;
        let count = cut.shape()[1] as isize;
        let spectrum = cut.reshape(&[batch * count, self.fft_length as isize])?.matmul(&built.dft)?;
        let bins = self.fft_length / 2 + 1;
        let [re, im] = &spectrum.split(1, &[bins, bins])?[..] else { unreachable!("split gives two parts") };
        let power = re.square().add(&im.square())?;
        // Keras's sqrt(power) ^ mag_exp (silent bins stay 0; no gradient flows back from where none arrives).
        let magnitude = match self.mag_exp {
            2.0 => power,
            1.0 => power.sqrt(),
            e => power.sqrt().powf(e),
        };
        let mut mel = magnitude.matmul(&built.mel)?;
        if self.power_to_db {
            let db = |t: Tensor| t.log().scale(10.0 / std::f32::consts::LN_10);
            mel = db(mel.clip(self.min_power as f32, f32::INFINITY)).add_scalar((-10.0 * self.ref_power.abs().max(self.min_power).log10()) as f32);
            if let Some(top) = self.top_db {
                let floor = mel.reshape(&[-1])?.max_axis(0, true)?.add_scalar(-top);
                mel = mel.maximum(&floor)?;
            }
        }
        mel.reshape(&[batch, count, self.num_mel_bins as isize])?.permute(&[0, 2, 1])
    }
    fn own_config(&self) -> Value {
        json!({
            "fft_length": self.fft_length,
            "sequence_stride": self.sequence_stride,
            "sequence_length": self.frame(),
            "window": self.window,
            "sampling_rate": if self.sampling_rate.fract() == 0.0 { json!(self.sampling_rate as u64) } else { json!(self.sampling_rate) },
            "num_mel_bins": self.num_mel_bins,
            "min_freq": self.min_freq,
            "max_freq": self.high(),
            "power_to_db": self.power_to_db,
            "top_db": self.top_db,
            "mag_exp": self.mag_exp,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
        })
    }
}

impl MelSpectrogram {
    /// Reads Keras's config of this layer; `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let number = |name: &str, default: f64| -> Result<f64> {
            match config.get(name) {
                None => Ok(default),
                Some(v) => v.as_f64().ok_or_else(|| cfg::bad(l, name, "a number", v)),
            }
        };
        let optional_number = |name: &str| -> Result<Option<f64>> { config.get(name).filter(|v| !v.is_null()).map(|v| v.as_f64().ok_or_else(|| cfg::bad(l, name, "a number or null", v))).transpose() };
        let count = |name: &str, default: usize| -> Result<usize> { Ok(cfg::optional_usize_field(l, config, name)?.unwrap_or(default)) };
        let mut layer = MelSpectrogram::new(16000);
        layer.fft_length = count("fft_length", 2048)?;
        layer.sequence_stride = count("sequence_stride", 512)?;
        // Keras reads 0 (like null) as "the default" for both.
        layer.sequence_length = optional_number("sequence_length")?.filter(|&v| v != 0.0).map(|_| cfg::usize_field(l, config, "sequence_length")).transpose()?;
        layer.window = cfg::optional_text_field(l, config, "window", Some("hann"))?;
        layer.sampling_rate = number("sampling_rate", 16000.0)?;
        layer.num_mel_bins = count("num_mel_bins", 128)?;
        layer.min_freq = number("min_freq", 20.0)?;
        layer.max_freq = optional_number("max_freq")?.filter(|&v| v != 0.0);
        layer.power_to_db = cfg::bool_field(l, config, "power_to_db", true)?;
        layer.top_db = if config.get("top_db").is_some() { optional_number("top_db")?.map(|v| v as f32) } else { Some(80.0) };
        layer.mag_exp = number("mag_exp", 2.0)? as f32;
        layer.min_power = number("min_power", 1e-10)?;
        layer.ref_power = number("ref_power", 1.0)?;
        layer.base.name = l.to_string();
        layer.check()?;
        Ok(Box::new(layer))
    }
}
