//! LSTM training throughput on the character-model shape of the language
//! issue: Embedding(65, 64) -> LSTM(256, return_sequences) -> Dense(65,
//! softmax), batches of 64 windows of 100 characters, Adam 2e-3, on random
//! characters (the speed does not depend on the text). Prints characters per
//! second over two epochs after a warm-up one. `tools/bench/keras_lstm_speed.py`
//! is the same run in Keras.
//!
//!     cargo run --release -p strata --example lstm_speed [-- gru]
//!
//! With `gru`, the same with `GRU(256)` in place of the LSTM.

use strata::layers::{Embedding, GRU, LSTM};
use strata::prelude::*;
use strata::Rng;

fn main() -> strata::Result<()> {
    strata::core::threads::init_on_main(None)?;
    let (vocab, t, windows) = (65usize, 100usize, 64 * 12);
    let mut r = Rng::new(0);
    let ids: Vec<f32> = (0..windows * (t + 1)).map(|_| r.below(vocab) as f32).collect();
    let x: Vec<f32> = ids.chunks(t + 1).flat_map(|w| w[..t].to_vec()).collect();
    let y: Vec<f32> = ids.chunks(t + 1).flat_map(|w| w[1..].to_vec()).collect();
    let mut onehot = vec![0.0f32; windows * t * vocab];
    for (i, c) in y.iter().enumerate() {
        onehot[i * vocab + *c as usize] = 1.0;
    }
    let (x, y) = (Tensor::new(x, &[windows, t])?, Tensor::new(onehot, &[windows, t, vocab])?);
    let mut m = Sequential::with_seed(0);
    m.add(Embedding::new(vocab, 64).input_shape([t]))?;
    let gru = std::env::args().any(|a| a == "gru");
    if gru {
        m.add(GRU::new(256).return_sequences(true))?;
    } else {
        m.add(LSTM::new(256).return_sequences(true))?;
    }
    m.add(Dense::new(vocab).activation(Softmax))?;
    m.compile(strata::optimizers::Adam::new(2e-3)?, "categorical_crossentropy", &[])?;
    let opts = |e| FitOptions { epochs: e, batch_size: 64, verbose: 0, ..Default::default() };
    m.fit(&x, &y, opts(1))?;
    let start = std::time::Instant::now();
    let h = m.fit(&x, &y, opts(2))?;
    let secs = start.elapsed().as_secs_f64();
    let layer = if gru { "GRU" } else { "LSTM" };
    println!("strata {layer} {:.0} characters/s (loss {:?})", (windows * t) as f64 * 2.0 / secs, h.history["loss"]);
    Ok(())
}
