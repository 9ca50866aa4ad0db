//! A character language model on Shakespeare's plays (`train.txt`,
//! `valid.txt` of `../shared/data/shakespeare/`): TextVectorization
//! (characters, adapted to `train.txt`) -> Embedding(vocab, 64) ->
//! LSTM(256, return_sequences) -> Dense(vocab), trained on batches of 64
//! random windows of 100 characters with the loss at every position, Adam
//! 2e-3. Prints the training loss as it goes, the validation loss (nats per
//! character, over consecutive windows of `valid.txt`) and a sample
//! generated from a prompt. The saved model carries its vocabulary:
//! `strata generate --model lm.safetensors --prompt "ROMEO:"` samples from it
//! and `strata evaluate --model lm.safetensors --text FILE` scores a text.
//!
//!     cargo run --release -p strata --example char_lm -- --data ../shared/data/shakespeare --steps 2000 [--save lm.safetensors]
//!
//! Options: `--steps 500 --seed 0 --prompt "ROMEO:" --length 400
//! --temperature 0.8 --valid-windows 200`.

mod flags;

use flags::{flag, number};

use std::path::PathBuf;

use strata::layers::preprocessing::{Split, Standardize};
use strata::layers::{Embedding, TextVectorization, LSTM};
use strata::losses::SparseCategoricalCrossentropy;
use strata::optimizers::Adam;
use strata::prelude::*;
use strata::{Error, Result, Rng};

const WINDOW: usize = 100;
const BATCH: usize = 64;

fn read(path: PathBuf) -> Result<String> {
    let text = strata::data::text::read_text(&path)?;
    if text.chars().count() <= WINDOW {
        return Err(Error::data(&path, format!("needs more than {WINDOW} characters")));
    }
    Ok(text)
}

/// Inputs and next-character targets for windows starting at `starts`.
fn windows(ids: &[usize], starts: &[usize]) -> Result<(Tensor, Tensor)> {
    let x: Vec<i32> = starts.iter().flat_map(|&s| ids[s..s + WINDOW].iter().map(|&c| c as i32)).collect();
    let y: Vec<i32> = starts.iter().flat_map(|&s| ids[s + 1..s + WINDOW + 1].iter().map(|&c| c as i32)).collect();
    Ok((Tensor::from_i32(x, &[starts.len(), WINDOW])?, Tensor::from_i32(y, &[starts.len(), WINDOW])?))
}

fn main() -> Result<()> {
    strata::core::threads::init_on_main(None)?;
    let dir = PathBuf::from(flag("--data", "../shared/data/shakespeare"));
    let (steps, seed): (usize, u64) = (number("--steps", "500")?, number("--seed", "0")?);
    let (train, valid) = (read(dir.join("train.txt"))?, read(dir.join("valid.txt"))?);
    // Characters to ids as Keras's TextVectorization(standardize=None, split="character") adapted to the training text:
    // 0 pads, 1 is [UNK], then the characters, most frequent first.
    let mut text_layer = TextVectorization::new().standardize(Standardize::None).split(Split::Character).output_sequence_length(WINDOW);
    text_layer.adapt_texts(&[&train])?;
    let (train_ids, valid_ids) = (text_layer.ids(&train), text_layer.ids(&valid));
    let vocab = text_layer.vocabulary_size();
    eprintln!("{} training and {} validation characters, {} vocabulary entries", train_ids.len(), valid_ids.len(), vocab);

    let mut model = Sequential::with_seed(seed);
    model.add(text_layer.input_shape([WINDOW]))?;
    model.add(Embedding::new(vocab, 64))?;
    model.add(LSTM::new(256).return_sequences(true))?;
    model.add(Dense::new(vocab))?;
    model.compile(Adam::new(2e-3)?, SparseCategoricalCrossentropy::new(true), &[])?;

    let mut rng = Rng::new(seed ^ 0x5eed);
    let batches: Vec<Vec<usize>> = (0..steps).map(|_| (0..BATCH).map(|_| rng.below(train_ids.len() - WINDOW - 1)).collect()).collect();
    // --trace DIR: the initial weights (keyed as Keras names them) and every batch's window starts,
    // so that `tools/bench/keras_char_lm.py --trace DIR` trains the same model on the same windows.
    let trace = flag("--trace", "");
    if !trace.is_empty() {
        let dir = PathBuf::from(&trace);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        model.save_weights(dir.join("init.safetensors"))?;
        let starts: Vec<f32> = batches.iter().flatten().map(|&s| s as f32).collect();
        strata::io::npy::write(&dir.join("starts.npy"), &Tensor::new(starts, &[steps, BATCH])?)?;
    }
    let every: usize = number("--log-every", "100")?;
    let started = std::time::Instant::now();
    let mut recent = 0.0;
    for (step, starts) in (1..=steps).zip(&batches) {
        let (x, y) = windows(&train_ids, starts)?;
        recent += model.train_on_batch(&x, &y)? as f64;
        if step % every == 0 || step == steps {
            let k = if step % every == 0 { every } else { step % every };
            eprintln!("step {step}/{steps}: training loss {:.4} ({:.0} characters/s)", recent / k as f64, (step * BATCH * WINDOW) as f64 / started.elapsed().as_secs_f64());
            recent = 0.0;
        }
    }
    let count: usize = number("--valid-windows", "200")?;
    let starts: Vec<usize> = (0..count).map(|k| k * WINDOW).filter(|&s| s + WINDOW < valid_ids.len()).collect();
    let (vx, vy) = windows(&valid_ids, &starts)?;
    let loss = model.evaluate(&vx, &vy, BATCH)?.get("loss").unwrap_or(f64::NAN);
    println!("validation loss {loss:.4} nats per character over {} windows of {WINDOW} ({:.3} bits)", starts.len(), loss / std::f64::consts::LN_2);

    let temperature: f32 = number("--temperature", "0.8")?;
    let text = model.generate_text(&flag("--prompt", "ROMEO:"), number("--length", "400")?, temperature, &mut rng)?;
    println!("--- sample (temperature {temperature}) ---\n{text}");
    let save = flag("--save", "");
    if !save.is_empty() {
        model.save(std::path::Path::new(&save))?;
        eprintln!("saved {save}");
    }
    Ok(())
}
