//! `STFTSpectrogram`: a short-time Fourier transform of each channel as
//! Keras 3 computes it, a strided 1-D convolution whose kernels are the
//! windowed DFT rows (the weights `real_kernel` and `imag_kernel`, trainable
//! by default as in Keras).

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Padding, Result, Rng, Tensor};

use super::super::{base_accessors, not_built, Layer, LayerBase, Weight};
use super::audio::{dft_kernels, frames, window, Extend, MAX_FFT_LENGTH};
use crate::layers::config as cfg;

/// What the layer outputs per frequency bin.
const MODES: &[&str] = &["log", "magnitude", "psd", "real", "imag", "stft"];
/// Keras's `backend.epsilon()`: the floor under the power, and under the magnitude in `log` mode.
const EPSILON: f32 = 1e-7;

/// Spectrogram of signals `(batch, samples, channels)` (Keras's
/// `STFTSpectrogram`): frames of `frame_length` samples, `frame_step` apart
/// (default half a frame), each multiplied by the window (`hann`,
/// `hamming`, `blackman`, `boxcar` or none; `periodic` as scipy's `fftbins`),
/// scaled (`density`: by the window's L2 norm, `spectrum`: its L1 norm) and
/// transformed over `fft_length` points (default the next power of two).
/// `mode`: `log` (default; the log of the magnitude), `magnitude`, `psd`
/// (power, doubled except in the first and last bins), `real`, `imag` or `stft` (real
/// bins then imaginary bins).
///
/// # Shapes
/// input `(batch, samples, channels)` (channels last), output `(batch,
/// frames, channels * bins)`, or `(batch, frames, bins, channels)` with
/// `expand_dims`.
/// `bins = fft_length / 2 + 1` (twice that in `stft` mode); `frames` as a
/// convolution with `padding` `valid` or `same` and stride `frame_step`.
pub struct STFTSpectrogram {
    base: LayerBase,
    mode: String,
    frame_length: usize,
    frame_step: Option<usize>,
    fft_length: Option<usize>,
    window: Option<String>,
    periodic: bool,
    scaling: Option<String>,
    padding: Padding,
    expand_dims: bool,
    built: Option<Built>,
}

struct Built {
    input_shape: Vec<usize>,
    real: Option<Tensor>,
    imag: Option<Tensor>,
}

impl STFTSpectrogram {
    /// Keras's defaults but the frame length (Keras's: 256): log magnitude of
    /// frames half a frame apart, symmetric Hann window, density scaling.
    pub fn new(frame_length: usize) -> Self {
        STFTSpectrogram {
            base: LayerBase::new("STFTSpectrogram"),
            mode: "log".into(),
            frame_length,
            frame_step: None,
            fft_length: None,
            window: Some("hann".into()),
            periodic: false,
            scaling: Some("density".into()),
            padding: Padding::Valid,
            expand_dims: false,
            built: None,
        }
    }
    /// `log`, `magnitude`, `psd`, `real`, `imag` or `stft`.
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = mode.into();
        self
    }
    /// Samples between frame starts (default `frame_length / 2`).
    pub fn frame_step(mut self, step: usize) -> Self {
        self.frame_step = Some(step);
        self
    }
    /// Points of the transform (default the next power of two of `frame_length`).
    pub fn fft_length(mut self, n: usize) -> Self {
        self.fft_length = Some(n);
        self
    }
    /// Window name, or `None` for none.
    pub fn window(mut self, window: Option<&str>) -> Self {
        self.window = window.map(str::to_string);
        self
    }
    /// `valid` (frames inside the signal) or `same` (`ceil(samples / step)` frames, zeros outside).
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    fn step(&self) -> usize {
        self.frame_step.unwrap_or(self.frame_length / 2)
    }
    fn fft(&self) -> usize {
        self.fft_length.unwrap_or_else(|| self.frame_length.checked_next_power_of_two().unwrap_or(usize::MAX))
    }
    fn bins(&self) -> usize {
        self.fft() / 2 + 1
    }
    fn check(&self) -> Result<()> {
        let l = &self.base.name;
        if !MODES.contains(&self.mode.as_str()) {
            let extra = if self.mode == "angle" { " ('angle' is not supported yet)" } else { "" };
            return Err(Error::layer(l, format!("mode must be one of {}{extra}, received mode='{}'", MODES.join(", "), self.mode)));
        }
        if self.frame_length == 0 || self.step() == 0 || self.step() > self.frame_length {
            return Err(Error::layer(l, format!("frame_step should be a positive integer not greater than frame_length, received frame_step={}, frame_length={}", self.step(), self.frame_length)));
        }
        if self.fft() < self.frame_length.max(2) {
            return Err(Error::layer(l, format!("fft_length should be at least frame_length (and 2), received fft_length={}, frame_length={}", self.fft(), self.frame_length)));
        }
        if self.fft() > MAX_FFT_LENGTH {
            return Err(Error::layer(l, format!("computes its transform as a matrix product and takes fft_length up to {MAX_FFT_LENGTH}, received fft_length={}", self.fft())));
        }
        if let Some(s) = self.scaling.as_deref().filter(|s| !["density", "spectrum"].contains(s)) {
            return Err(Error::layer(l, format!("scaling must be None, 'density' or 'spectrum', received scaling='{s}'")));
        }
        Ok(())
    }
    /// `[frame_length, 1, bins]` kernels as Keras's `initializers.STFT` makes them.
    fn kernels(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let win = self.window.as_deref().map(|w| window(&self.base.name, w, self.frame_length, self.periodic)).transpose()?;
        let scale = match (&win, self.scaling.as_deref()) {
            (Some(w), Some("density")) => w.iter().map(|v| v * v).sum::<f64>().sqrt(),
            (Some(w), Some("spectrum")) => w.iter().map(|v| v.abs()).sum(),
            _ => 1.0,
        };
        Ok(dft_kernels(self.frame_length, self.bins(), (self.bins() - 1) * 2, win.as_deref(), scale))
    }
    /// `(samples, channels)` of a sample shape.
    fn signal_shape(&self, shape: &[usize]) -> Result<(usize, usize)> {
        match *shape {
            [samples, channels] if samples > 0 && channels > 0 => Ok((samples, channels)),
            _ => Err(Error::layer(&self.base.name, format!("STFTSpectrogram expects signals (batch, samples, channels), received input_shape={}", fmt_shape(shape)))),
        }
    }
    fn frame_count(&self, samples: usize) -> Result<(usize, Extend)> {
        let (k, s) = (self.frame_length, self.step());
        match self.padding {
            Padding::Valid if samples >= k => Ok(((samples - k) / s + 1, Extend::Zeros(0, 0))),
            Padding::Valid => Err(Error::layer(&self.base.name, format!("a signal of {samples} samples is shorter than one frame (frame_length={k}) with padding='valid'"))),
            Padding::Same => {
                let count = samples.div_ceil(s);
                let total = ((count - 1) * s + k).saturating_sub(samples);
                Ok((count, Extend::Zeros(total / 2, total - total / 2)))
            }
        }
    }
}

impl Layer for STFTSpectrogram {
    fn class_name(&self) -> &'static str {
        "STFTSpectrogram"
    }
    base_accessors!();
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.check()?;
        let (samples, channels) = self.signal_shape(input_shape)?;
        let (count, _) = self.frame_count(samples)?;
        let (real, imag) = self.kernels()?;
        let kernel = |v: Vec<f32>| Tensor::variable(v, &[self.frame_length, 1, self.bins()]);
        let real = if self.mode != "imag" { Some(kernel(real)?) } else { None };
        let imag = if self.mode != "real" { Some(kernel(imag)?) } else { None };
        self.built = Some(Built { input_shape: input_shape.to_vec(), real, imag });
        let bins = if self.mode == "stft" { 2 * self.bins() } else { self.bins() };
        Ok(if self.expand_dims { vec![count, bins, channels] } else { vec![count, channels * bins] })
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        let built = self.built.as_ref().ok_or_else(|| not_built(self))?;
        super::super::check_input(self, x, &built.input_shape)?;
        let (samples, channels) = self.signal_shape(&built.input_shape)?;
        let batch = x.shape()[0];
        let signals = x.permute(&[0, 2, 1])?;
        let rows = (batch * channels) as isize;
        let (count, extend) = self.frame_count(samples)?;
        let cut = frames(&self.base.name, &signals.reshape(&[rows, samples as isize])?, self.frame_length, self.step(), extend)?;
        let cut = cut.reshape(&[rows * count as isize, self.frame_length as isize])?;
        let bins = self.bins() as isize;
        let transform = |k: &Option<Tensor>| -> Result<Option<Tensor>> {
            k.as_ref().map(|k| cut.matmul(&k.reshape(&[self.frame_length as isize, bins])?)).transpose()
        };
        let (re, im) = (transform(&built.real)?, transform(&built.imag)?);
        let power = || -> Result<Tensor> {
            let (re, im) = (re.as_ref().ok_or_else(|| not_built(self))?, im.as_ref().ok_or_else(|| not_built(self))?);
            re.square().add(&im.square())
        };
        let out = match self.mode.as_str() {
            "real" => re.ok_or_else(|| not_built(self))?,
            "imag" => im.ok_or_else(|| not_built(self))?,
            "stft" => Tensor::concat(&[re.ok_or_else(|| not_built(self))?, im.ok_or_else(|| not_built(self))?], 1)?,
            "psd" => {
                let doubled: Vec<f32> = (0..self.bins()).map(|k| if k == 0 || k + 1 == self.bins() { 1.0 } else { 2.0 }).collect();
                power()?.mul(&Tensor::new(doubled, &[self.bins()])?)?
            }
            "magnitude" => power()?.clip(EPSILON, f32::INFINITY).sqrt(),
            _ => power()?.clip(EPSILON, f32::INFINITY).sqrt().clip(EPSILON, f32::INFINITY).log(),
        };
        let width = out.shape()[1] as isize;
        let out = out.reshape(&[batch as isize, channels as isize, count as isize, width])?;
        match self.expand_dims {
            false => out.permute(&[0, 2, 1, 3])?.reshape(&[batch as isize, count as isize, channels as isize * width]),
            true => out.permute(&[0, 2, 3, 1]),
        }
    }
    fn weights(&self) -> Vec<Weight> {
        let Some(built) = &self.built else { return Vec::new() };
        let trainable = self.base.trainable;
        [("real_kernel", &built.real), ("imag_kernel", &built.imag)].into_iter().filter_map(|(name, t)| t.as_ref().map(|t| Weight::new(name, t.clone(), trainable))).collect()
    }
    fn own_config(&self) -> Value {
        json!({
            "mode": self.mode,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "window": self.window,
            "periodic": self.periodic,
            "scaling": self.scaling,
            "padding": self.padding.name(),
            "data_format": "channels_last",
            "expand_dims": self.expand_dims,
        })
    }
}

impl STFTSpectrogram {
    /// Reads Keras's config of this layer; `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        let mut layer = STFTSpectrogram::new(cfg::optional_usize_field(l, config, "frame_length")?.unwrap_or(256));
        layer.mode = cfg::optional_text_field(l, config, "mode", None)?.unwrap_or_else(|| "log".into());
        layer.frame_step = cfg::optional_usize_field(l, config, "frame_step")?;
        layer.fft_length = cfg::optional_usize_field(l, config, "fft_length")?;
        layer.window = cfg::optional_text_field(l, config, "window", Some("hann"))?;
        layer.periodic = cfg::bool_field(l, config, "periodic", false)?;
        layer.scaling = cfg::optional_text_field(l, config, "scaling", Some("density"))?;
        layer.padding = cfg::padding_field(l, config)?;
        layer.expand_dims = cfg::bool_field(l, config, "expand_dims", false)?;
        layer.base.name = l.to_string();
        layer.check()?;
        Ok(Box::new(layer))
    }
}
