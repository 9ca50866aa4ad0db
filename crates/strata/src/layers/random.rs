//! The random stream of a layer that draws while training (dropout masks,
//! augmentations): seeded at build from the layer's own `seed` or else the
//! model's, and saved in checkpoints so a resumed run draws what the
//! uninterrupted one would.

use std::sync::Mutex;

use strata_core::{Error, Result, Rng};

/// A layer's random stream (Keras's `SeedGenerator`), named `seed_generator` in checkpoints.
#[derive(Default)]
pub(crate) struct RandomStream {
    rng: Mutex<Option<Rng>>,
    /// The layer's own seed (Keras's `seed=`), written in its config.
    pub(crate) seed: Option<u64>,
}

impl RandomStream {
    /// Starts the stream: from the layer's seed, or the next number of the model's.
    pub(crate) fn start(&self, model_rng: &mut Rng) {
        let seed = self.seed.unwrap_or_else(|| model_rng.next_u64());
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rng::new(seed));
    }

    /// Runs `draw` on the stream; `layer` names it in the error when it was never started.
    pub(crate) fn draw<T>(&self, layer: &str, draw: impl FnOnce(&mut Rng) -> T) -> Result<T> {
        let mut guard = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let rng = guard.as_mut().ok_or_else(|| Error::layer(layer, "has not been built: call build (or add it to a model) first"))?;
        Ok(draw(rng))
    }

    /// `per_row` draws for each of `rows` rows of a batch. On one rank of
    /// several, when `rows` is this rank's share, the stream draws for the
    /// whole global batch and keeps this rank's rows, so the ranks together
    /// draw what one process would.
    pub(crate) fn draw_rows<T>(&self, layer: &str, rows: usize, per_row: usize, mut one: impl FnMut(&mut Rng) -> T) -> Result<Vec<T>> {
        let (skip, global) = match crate::distributed::current() {
            Some(s) if s.rows == rows => (s.offset, s.global_rows),
            _ => (0, rows),
        };
        self.draw(layer, |rng| {
            let mut kept = Vec::with_capacity(rows * per_row);
            for i in 0..global * per_row {
                let v = one(rng);
                if i >= skip * per_row && i < (skip + rows) * per_row {
                    kept.push(v);
                }
            }
            kept
        })
    }

    /// An inverted-dropout mask of `per_row` values for each of `rows` rows:
    /// 0 with probability `rate`, else `1 / (1 - rate)` (Keras's `dropout`).
    pub(crate) fn dropout_mask(&self, layer: &str, rows: usize, per_row: usize, rate: f32) -> Result<Vec<f32>> {
        let keep = 1.0 - rate;
        self.draw_rows(layer, rows, per_row, |rng| if rng.uniform() < rate { 0.0 } else { 1.0 / keep })
    }

    /// The stream's state for a checkpoint.
    pub(crate) fn states(&self) -> Vec<(String, [u64; 4])> {
        let rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.as_ref().map(|r| vec![("seed_generator".to_string(), r.state())]).unwrap_or_default()
    }

    /// Restores a state saved by [`RandomStream::states`].
    pub(crate) fn restore(&self, layer: &str, streams: &[(String, [u64; 4])]) -> Result<()> {
        for (name, state) in streams {
            if name != "seed_generator" {
                return Err(Error::layer(layer, format!("has no random stream '{name}' (it has 'seed_generator')")));
            }
            *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = Some(Rng::from_state(*state));
        }
        Ok(())
    }
}

/// The two `Layer` methods of a layer whose stream is its field `stream`.
macro_rules! random_stream_methods {
    () => {
        fn random_streams(&self) -> Vec<(String, [u64; 4])> {
            self.stream.states()
        }
        fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> Result<()> {
            self.stream.restore(&self.base.name, streams)
        }
    };
}
pub(crate) use random_stream_methods;

/// Reads Keras's `seed` field (null or absent: the model's seed).
pub(crate) fn seed_field(layer: &str, config: &serde_json::Value) -> Result<Option<u64>> {
    match config.get("seed") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| super::config::bad(layer, "seed", "a non-negative integer or null", v)),
    }
}
