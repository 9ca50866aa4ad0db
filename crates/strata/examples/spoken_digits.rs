//! A spoken-digit recogniser on the Free Spoken Digit Dataset
//! (`../shared/data/spoken-digits/`: 8 kHz WAV files named
//! `digit_speaker_take.wav`): one second of raw audio -> MelSpectrogram
//! (40 bands) -> BatchNormalization -> three Conv2D + MaxPooling2D ->
//! Flatten -> Dropout(0.3) -> Dense(64) -> Dense(10, softmax).
//! The usual split tests on takes 0-4 of every speaker; `--holdout NAME`
//! instead tests on every take of one speaker and trains on the others (a
//! voice the model never heard). `--augment` varies each training clip
//! every epoch: speed and pitch (resampled by 0.85-1.15x), loudness (+-6 dB),
//! start (up to 0.125 s later) and background noise (20-40 dB below it).
//!
//!     cargo run --release -p strata --example spoken_digits -- --data ../shared/data/spoken-digits --save digits.safetensors
//!
//! Options: `--epochs 20 --batch-size 32 --seed 0 --holdout george --augment --json`.
//! The saved model takes raw audio, so `strata predict --model
//! digits.safetensors a.wav b.wav` names the digit in each recording.

mod flags;

use flags::{flag, number, switch};

use std::path::{Path, PathBuf};

use strata::data::audio::{self, AudioFolder};
use strata::layers::{BatchNormalization, Dropout, MelSpectrogram, Permute, Reshape};
use strata::prelude::*;
use strata::{Error, Padding, Result, Rng};

const RATE: u32 = 8000;
/// One second: all but 4 of the 2,500 recordings fit (the longest is 2.3 s, the median 0.4 s).
const LENGTH: usize = 8000;

/// Speaker and take of `digit_speaker_take.wav`.
fn speaker_and_take(path: &Path) -> Result<(String, usize)> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let parts: Vec<&str> = stem.split('_').collect();
    match parts[..] {
        [_, speaker, take] => Ok((speaker.to_string(), take.parse().map_err(|_| Error::data(path, "take is not a number"))?)),
        _ => Err(Error::data(path, "expected a name digit_speaker_take.wav")),
    }
}

/// The recogniser: Keras layers all, so the same model runs in Keras (`tools/bench/keras_spoken_digits.py`).
fn build(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::with_seed(seed);
    // A top_db beyond the floor's range (-100 dB) keeps each clip's decibels independent of the rest of its batch.
    model.add(MelSpectrogram::new(RATE).fft_length(256).sequence_stride(128).num_mel_bins(40).freq_range(20.0, None).top_db(Some(200.0)).input_shape([LENGTH]))?;
    model.add(Permute::new([2, 1]))?; // (frames, bands)
    model.add(BatchNormalization::new())?; // one mean and variance per band
    model.add(Reshape::new([63, 40, 1]))?;
    for filters in [32, 64, 64] {
        model.add(Conv2D::new(filters, (3, 3)).padding(Padding::Same).activation(Relu))?;
        model.add(MaxPooling2D::new((2, 2)))?;
    }
    model.add(Flatten::new())?;
    model.add(Dropout::new(0.3))?;
    model.add(Dense::new(64).activation(Relu))?;
    model.add(Dense::new(10).activation(Softmax))?;
    model.compile(Adam::new(1e-3)?, CategoricalCrossentropy::new(false), &["accuracy"])?;
    Ok(model)
}

/// A clip varied as `--augment` says, placed in a `LENGTH` window.
fn augment(clip: &[f32], rng: &mut Rng) -> Vec<f32> {
    let speed = rng.uniform_range(0.85, 1.15);
    // A rate on a 100 Hz grid: its ratio to 8 kHz has few phases, so the resampling filter is tabulated exactly.
    let mut out = audio::resample(clip, RATE, 100 * (RATE as f32 / speed / 100.0).round() as u32);
    let gain = 10f32.powf(rng.uniform_range(-6.0, 6.0) / 20.0);
    let rms = (out.iter().map(|v| v * v).sum::<f32>() / out.len().max(1) as f32).sqrt();
    let noise = rms * 10f32.powf(-rng.uniform_range(20.0, 40.0) / 20.0);
    let shift = rng.below(1001).min(LENGTH.saturating_sub(out.len()));
    out.truncate(LENGTH - shift);
    // Noise over the recording only: the zeros padding it stay zeros, as at test time.
    let mut window = vec![0.0; shift];
    window.extend(out.iter().map(|v| gain * (v + noise * rng.normal())));
    window.resize(LENGTH, 0.0);
    window
}

fn batch(clips: &[Vec<f32>], labels: &[usize], order: &[usize], rng: Option<&mut Rng>) -> Result<(Tensor, Tensor)> {
    let mut x = Vec::with_capacity(order.len() * LENGTH);
    match rng {
        Some(rng) => order.iter().for_each(|&i| x.extend(augment(&clips[i], rng))),
        None => order.iter().for_each(|&i| x.extend(audio::fit_length(clips[i].clone(), LENGTH))),
    }
    let ids: Vec<usize> = order.iter().map(|&i| labels[i]).collect();
    Ok((Tensor::new(x, &[order.len(), LENGTH])?, Tensor::one_hot(&ids, 10)?))
}

fn main() -> Result<()> {
    strata::core::threads::init_on_main(None)?;
    let dir = PathBuf::from(flag("--data", "../shared/data/spoken-digits"));
    let recordings = if dir.join("recordings").is_dir() { dir.join("recordings") } else { dir.clone() };
    if !recordings.is_dir() {
        return Err(Error::data(&dir, "not found: give --data, the folder of the Free Spoken Digit Dataset (../shared/data/spoken-digits)"));
    }
    let (epochs, batch_size, seed): (usize, usize, u64) = (number("--epochs", "20")?, number("--batch-size", "32")?, number("--seed", "0")?);
    if batch_size == 0 {
        return Err(Error::argument("--batch-size", "must be at least 1"));
    }
    let holdout = flag("--holdout", "");
    let augmenting = switch("--augment");
    let folder = AudioFolder::open(&recordings)?;
    let mut clips = Vec::with_capacity(folder.len());
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, file) in folder.files.iter().enumerate() {
        clips.push(audio::load_mono(file, Some(RATE), None)?.0);
        let (speaker, take) = speaker_and_take(file)?;
        let held = if holdout.is_empty() { take < 5 } else { speaker == holdout };
        if held { test.push(i) } else { train.push(i) }
    }
    let labels: Vec<usize> = folder.labels.iter().map(|&l| folder.class_names[l].parse().unwrap_or(l)).collect();
    if test.is_empty() {
        return Err(Error::argument("--holdout", format!("no recordings of speaker '{holdout}'")));
    }
    eprintln!("{} training and {} test recordings ({})", train.len(), test.len(), if holdout.is_empty() { "takes 0-4 of every speaker held out".to_string() } else { format!("speaker {holdout} held out") });

    let mut model = build(seed)?;
    let (test_x, test_y) = batch(&clips, &labels, &test, None)?;
    let mut rng = Rng::new(seed ^ 0xa0d10);
    let started = std::time::Instant::now();
    let mut accuracy = 0.0;
    for epoch in 1..=epochs {
        rng.shuffle(&mut train);
        let mut loss = 0.0;
        for chunk in train.chunks(batch_size) {
            let (x, y) = batch(&clips, &labels, chunk, augmenting.then_some(&mut rng))?;
            loss += model.train_on_batch(&x, &y)? as f64 * chunk.len() as f64;
        }
        accuracy = model.evaluate(&test_x, &test_y, 250)?.get("accuracy").unwrap_or(f64::NAN);
        eprintln!("epoch {epoch}/{epochs}: loss {:.4}, test accuracy {accuracy:.4} ({:.0} s)", loss / train.len() as f64, started.elapsed().as_secs_f64());
    }
    let seconds = started.elapsed().as_secs_f64();
    if switch("--json") {
        println!("{}", serde_json::json!({ "holdout": holdout, "augment": augmenting, "epochs": epochs, "seed": seed, "test_accuracy": accuracy, "test_recordings": test.len(), "seconds": seconds }));
    } else {
        println!("test accuracy {accuracy:.4} on {} recordings after {epochs} epochs ({seconds:.0} s)", test.len());
    }
    let save = flag("--save", "");
    if !save.is_empty() {
        model.save(Path::new(&save))?;
        eprintln!("saved {save}");
    }
    Ok(())
}
