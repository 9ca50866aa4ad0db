//! A character language model on Shakespeare's plays (`train.txt`,
//! `valid.txt` of `../shared/data/shakespeare/`): Embedding(vocab, 64) ->
//! LSTM(256, return_sequences) -> Dense(vocab), trained on batches of 64
//! random windows of 100 characters with the loss at every position, Adam
//! 2e-3. Prints the training loss as it goes, the validation loss (nats per
//! character, over consecutive windows of `valid.txt`) and a sample
//! generated from a prompt.
//!
//!     cargo run --release -p strata --example char_lm -- --data ../shared/data/shakespeare --steps 2000 [--save lm.safetensors]
//!
//! Options: `--steps 500 --seed 0 --prompt "ROMEO:" --length 400
//! --temperature 0.8 --valid-windows 200`.

mod flags;

use flags::{flag, number};

use std::path::PathBuf;

use strata::layers::{Embedding, LSTM};
use strata::losses::SparseCategoricalCrossentropy;
use strata::optimizers::Adam;
use strata::prelude::*;
use strata::{Error, Result, Rng};

const WINDOW: usize = 100;
const BATCH: usize = 64;

fn read(path: PathBuf) -> Result<Vec<char>> {
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    if text.chars().count() <= WINDOW {
        return Err(Error::data(&path, format!("needs more than {WINDOW} characters")));
    }
    Ok(text.chars().collect())
}

/// Inputs and next-character targets for windows starting at `starts`.
fn windows(ids: &[usize], starts: &[usize]) -> Result<(Tensor, Tensor)> {
    let x: Vec<f32> = starts.iter().flat_map(|&s| ids[s..s + WINDOW].iter().map(|&c| c as f32)).collect();
    let y: Vec<f32> = starts.iter().flat_map(|&s| ids[s + 1..s + WINDOW + 1].iter().map(|&c| c as f32)).collect();
    Ok((Tensor::new(x, &[starts.len(), WINDOW])?, Tensor::new(y, &[starts.len(), WINDOW])?))
}

fn main() -> Result<()> {
    strata::core::threads::init_from_env()?;
    let dir = PathBuf::from(flag("--data", "../shared/data/shakespeare"));
    let (steps, seed): (usize, u64) = (number("--steps", "500")?, number("--seed", "0")?);
    let (train, valid) = (read(dir.join("train.txt"))?, read(dir.join("valid.txt"))?);
    let mut vocab: Vec<char> = train.iter().chain(&valid).copied().collect();
    vocab.sort_unstable();
    vocab.dedup();
    let id = |c: &char| vocab.binary_search(c).expect("in the vocabulary");
    let (train_ids, valid_ids): (Vec<usize>, Vec<usize>) = (train.iter().map(id).collect(), valid.iter().map(id).collect());
    eprintln!("{} training and {} validation characters, {} distinct", train.len(), valid.len(), vocab.len());

    let mut model = Sequential::with_seed(seed);
    model.add(Embedding::new(vocab.len(), 64).input_shape([WINDOW]))?;
    model.add(LSTM::new(256).return_sequences(true))?;
    model.add(Dense::new(vocab.len()))?;
    model.compile(Adam::new(2e-3)?, SparseCategoricalCrossentropy::new(true), &[])?;

    let mut rng = Rng::new(seed ^ 0x5eed);
    let batches: Vec<Vec<usize>> = (0..steps).map(|_| (0..BATCH).map(|_| rng.below(train_ids.len() - WINDOW - 1)).collect()).collect();
    // --trace DIR: the initial weights (keyed as Keras names them) and every batch's window starts,
    // so that `tools/bench/keras_char_lm.py --trace DIR` trains the same model on the same windows.
    let trace = flag("--trace", "");
    if !trace.is_empty() {
        let dir = PathBuf::from(&trace);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        model.save_weights(&dir.join("init.safetensors"))?;
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

    // Sampling: the last 100 characters (the prompt, padded with newlines) predict the next.
    let temperature: f32 = number("--temperature", "0.8")?;
    let prompt = flag("--prompt", "ROMEO:");
    let mut context: Vec<usize> = std::iter::repeat_n(id(&'\n'), WINDOW).chain(prompt.chars().filter(|c| vocab.binary_search(c).is_ok()).map(|c| id(&c))).collect();
    let mut text = prompt.clone();
    for _ in 0..number::<usize>("--length", "400")? {
        let x = Tensor::new(context[context.len() - WINDOW..].iter().map(|&c| c as f32).collect(), &[1, WINDOW])?;
        let logits = model.predict(&x, 1)?.to_vec();
        let last = &logits[(WINDOW - 1) * vocab.len()..];
        let top = last.iter().fold(f32::MIN, |m, &v| m.max(v));
        let weights: Vec<f32> = last.iter().map(|&v| ((v - top) / temperature).exp()).collect();
        let mut pick = rng.uniform() * weights.iter().sum::<f32>();
        let next = weights.iter().position(|&w| {
            pick -= w;
            pick <= 0.0
        });
        let next = next.unwrap_or(vocab.len() - 1);
        context.push(next);
        text.push(vocab[next]);
    }
    println!("--- sample (temperature {temperature}) ---\n{text}");
    let save = flag("--save", "");
    if !save.is_empty() {
        model.save(std::path::Path::new(&save))?;
        eprintln!("saved {save}");
    }
    Ok(())
}
