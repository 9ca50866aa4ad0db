//! Recordings in: WAV files read as one channel at a chosen rate (band-limited
//! resampling), cut or zero-padded to one length, and folders of them
//! labelled by sub-folder (Keras's `audio_dataset_from_directory`) or by the
//! start of each file's name (`7_jackson_32.wav` is a `7`, as the Free
//! Spoken Digit Dataset names its files).

use std::path::{Path, PathBuf};

use strata_core::{Error, Result, Tensor};

use super::wav;

/// How recordings are brought to one shape.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AudioOptions {
    /// Resample every file to this rate (samples per second); `None` keeps
    /// each file's own rate, and files of different rates are an error.
    pub sample_rate: Option<u32>,
    /// Cut or zero-pad every recording (at its end) to this many samples;
    /// `None`: the longest recording's length.
    pub length: Option<usize>,
}

/// Zero crossings of the resampling filter on each side of a sample.
const HALF_TAPS: f64 = 16.0;
/// Kaiser window shape: about 87 dB of stop-band attenuation.
const KAISER_BETA: f64 = 8.6;
/// Rates whose taps for every output phase would be more than this interpolate a finer table.
const MAX_TABLE: usize = 1 << 20;
/// Points per zero crossing of the filter in that table.
const FINE: usize = 512;
/// The filter's cut-off as a share of the lower Nyquist frequency.
const ROLLOFF: f64 = 0.95;

/// The modified Bessel function of the first kind, order 0 (its power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// `samples` at `from` Hz resampled to `to` Hz by windowed-sinc
/// interpolation (a Kaiser-windowed low-pass at 0.95 of the lower Nyquist
/// frequency, 16 zero crossings each side), so downsampling removes what
/// the new rate cannot hold instead of folding it back as aliases. The
/// result has `ceil(len * to / from)` samples; the signal is zero outside.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    resample_first(samples, from, to, usize::MAX)
}

/// The first `count` samples of [`resample`]'s result (all of them when it has fewer).
pub fn resample_first(samples: &[f32], from: u32, to: u32, count: usize) -> Vec<f32> {
    if from == to || samples.is_empty() || from == 0 || to == 0 {
        return samples[..samples.len().min(count)].to_vec();
    }
    let ratio = to as f64 / from as f64;
    let cutoff = ROLLOFF * ratio.min(1.0); // in cycles per input sample, times 2
    let reach = HALF_TAPS / cutoff; // input samples each side
    let norm = bessel_i0(KAISER_BETA);
    // The filter's value at distance d (in input samples) from an output position.
    let filter = |d: f64| -> f64 {
        let u = (d / reach).powi(2);
        if u >= 1.0 {
            return 0.0;
        }
        let arg = std::f64::consts::PI * cutoff * d;
        let sinc = if arg.abs() < 1e-9 { 1.0 } else { arg.sin() / arg };
        cutoff * sinc * bessel_i0(KAISER_BETA * (1.0 - u).sqrt()) / norm
    };
    // Output i sits at input position i * from / to: its fractional part
    // takes `phases` values, so each phase's taps are computed once.
    let g = gcd(from as u64, to as u64);
    let (step, phases) = ((from as u64 / g) as usize, (to as u64 / g) as usize);
    let span = reach.ceil() as usize;
    let taps = 2 * span + 1;
    let table: Vec<f64> = if phases * taps <= MAX_TABLE {
        (0..phases).flat_map(|k| (0..taps).map(move |m| (k, m))).map(|(k, m)| filter(k as f64 / phases as f64 + span as f64 - m as f64)).collect()
    } else {
        Vec::new()
    };
    // Otherwise the filter tabulated FINE times per zero crossing, read by linear interpolation.
    let fine: Vec<f64> = if table.is_empty() { (0..=(HALF_TAPS as usize + 1) * FINE + 1).map(|i| filter(i as f64 / (FINE as f64 * cutoff))).collect() } else { Vec::new() };
    let interpolated = |d: f64| {
        let p = (d.abs() * cutoff * FINE as f64).min(fine.len() as f64 - 2.0);
        let i = p as usize;
        fine[i] + (fine[i + 1] - fine[i]) * (p - i as f64)
    };
    let out_len = ((samples.len() as u64 * phases as u64).div_ceil(step as u64) as usize).min(count);
    (0..out_len)
        .map(|i| {
            let (whole, k) = ((i * step) / phases, (i * step) % phases);
            // Taps m = 0..taps read input whole - span + m.
            let first = span.saturating_sub(whole);
            let last = (samples.len() + span - whole).min(taps);
            let mut sum = 0.0;
            for m in first..last {
                let x = samples[whole + m - span] as f64;
                sum += x * match table.is_empty() {
                    false => table[k * taps + m],
                    true => interpolated(k as f64 / phases as f64 + span as f64 - m as f64),
                };
            }
            sum as f32
        })
        .collect()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The most a recording is upsampled: more is a header that lies about its rate.
const MAX_UPSAMPLING: u64 = 256;

/// A WAV file as one channel (the channels averaged) at `rate` Hz (its own
/// rate when `None`), at most `limit` samples of it; returns the samples and their rate.
pub fn load_mono(path: &Path, rate: Option<u32>, limit: Option<usize>) -> Result<(Vec<f32>, u32)> {
    let wav = wav::read(path)?;
    let mut mono = wav.to_mono();
    let limit = limit.unwrap_or(usize::MAX);
    match rate {
        Some(0) => Err(Error::argument("sample_rate", "must be positive, received 0")),
        Some(r) if r as u64 > MAX_UPSAMPLING * wav.sample_rate as u64 => {
            Err(Error::data(path, format!("is at {} Hz: resampling it to {r} Hz, more than {MAX_UPSAMPLING} times the rate, is refused", wav.sample_rate)))
        }
        Some(r) => Ok((resample_first(&mono, wav.sample_rate, r, limit), r)),
        None => {
            mono.truncate(limit);
            Ok((mono, wav.sample_rate))
        }
    }
}

/// `samples` cut or zero-padded at the end to `length`.
pub fn fit_length(mut samples: Vec<f32>, length: usize) -> Vec<f32> {
    samples.resize(length, 0.0);
    samples
}

/// A folder of WAV files and their labels: one sub-folder per class (class
/// names in alphabetical order), or, when it has no sub-folders of WAV
/// files, the files themselves, each labelled by its name up to the first
/// `_` (`7_jackson_32.wav` is class `7`). Files are sorted by path.
#[derive(Clone, Debug)]
pub struct AudioFolder {
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// Every WAV file.
    pub files: Vec<PathBuf>,
    /// The class id of each of `files`.
    pub labels: Vec<usize>,
}

fn wav_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let is_wav = |p: &PathBuf| p.is_file() && super::has_extension(p, "wav");
    Ok(super::sorted_entries(dir)?.into_iter().filter(is_wav).collect())
}

impl AudioFolder {
    /// Lists `dir` (see the type's description).
    pub fn open(dir: &Path) -> Result<AudioFolder> {
        if !dir.is_dir() {
            return Err(Error::data(dir, "audio folder not found"));
        }
        let (class_names, files, labels) = super::class_folders(dir, |p| super::has_extension(p, "wav"))?;
        let mut folder = AudioFolder { class_names, files, labels };
        if folder.files.is_empty() {
            folder.files = wav_files(dir)?;
            let names: Vec<String> = folder.files.iter().map(|f| file_label(f)).collect::<Result<_>>()?;
            folder.class_names = names.clone();
            folder.class_names.sort();
            folder.class_names.dedup();
            folder.labels = names.iter().map(|n| folder.class_names.binary_search(n).unwrap_or_default()).collect();
        }
        if folder.files.is_empty() {
            return Err(Error::data(dir, "has no WAV files, neither in class sub-folders nor named `label_....wav`"));
        }
        Ok(folder)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every recording as one row of a `[n, length]` tensor (one channel),
    /// and the rate they share.
    pub fn load(&self, options: &AudioOptions) -> Result<(Tensor, u32)> {
        load_files(&self.files, options)
    }
}

/// The label in a file name: the part of its stem before the first `_`.
pub fn file_label(path: &Path) -> Result<String> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match stem.split_once('_') {
        Some((label, _)) if !label.is_empty() => Ok(label.to_string()),
        _ => Err(Error::data(path, "has no label in its name: expected `label_rest.wav` (or put the files in one sub-folder per class)")),
    }
}

/// WAV files as rows of one `[n, length]` tensor of one channel each, at
/// one rate (see [`AudioOptions`]), and that rate.
pub fn load_files(files: &[PathBuf], options: &AudioOptions) -> Result<(Tensor, u32)> {
    let mut clips = Vec::with_capacity(files.len());
    let mut rate: Option<u32> = None;
    for file in files {
        let (samples, r) = load_mono(file, options.sample_rate, options.length)?;
        if let Some(before) = rate.filter(|&before| before != r) {
            return Err(Error::data(file, format!("is at {r} Hz, the files before it at {before} Hz: give a sample rate to resample them to")));
        }
        rate = Some(r);
        clips.push(samples);
    }
    let length = options.length.unwrap_or_else(|| clips.iter().map(Vec::len).max().unwrap_or(0));
    if length == 0 {
        return Err(Error::argument("length", "the recordings are empty: there are no samples to make a batch of"));
    }
    let values: Vec<f32> = clips.into_iter().flat_map(|c| fit_length(c, length)).collect();
    Ok((Tensor::new(values, &[files.len(), length])?, rate.unwrap_or(1)))
}
