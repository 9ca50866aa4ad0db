//! Text into a model whose first layer is a `TextVectorization`: its
//! vocabulary turns texts into the tensors the rest of the model takes.

use strata_core::{Error, Result, Tensor};

use super::functional::Model;
use crate::layers::preprocessing::Split;
use crate::layers::{LayerRef, TextVectorization};

impl Model {
    /// The model's first layer when it is a `TextVectorization` (text's way in).
    pub fn text_layer(&self) -> Option<LayerRef> {
        self.layers.first().filter(|l| l.lock().text_vectorization().is_some()).cloned()
    }

    /// Texts as the model's input: its first layer, a `TextVectorization`,
    /// makes them token ids (padded or cut to the model's input length) or vectors.
    pub fn vectorize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor> {
        let length = match self.input_shape() {
            Some(&[n]) => Some(n),
            _ => None,
        };
        self.with_text_layer("so it takes no text", |v| v.vectorize_to(texts, length))?
    }

    /// `f` of the model's first layer, a `TextVectorization`, or an error
    /// saying the model has none and, in `consequence`, what that means.
    fn with_text_layer<T>(&self, consequence: &str, f: impl FnOnce(&TextVectorization) -> T) -> Result<T> {
        let layer = self.text_layer().ok_or_else(|| Error::State(format!("model '{}' does not start with a TextVectorization layer, {consequence}", self.name())))?;
        let guard = layer.lock();
        Ok(f(guard.text_vectorization().expect("text_layer checked it")))
    }

    /// The model's outputs for `texts` (see [`Model::vectorize`]), in batches of `batch_size`.
    pub fn predict_texts<S: AsRef<str>>(&mut self, texts: &[S], batch_size: usize) -> Result<Tensor> {
        let x = self.vectorize(texts)?;
        self.predict(&x, batch_size)
    }
}

/// A text model's loss on a text, from [`Model::text_loss`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextLoss {
    /// Mean cross-entropy of each next token, in nats.
    pub loss: f64,
    /// How many tokens were predicted (all but the first).
    pub tokens: usize,
}

/// A row of scores as log-probabilities: log-softmax of logits, or the
/// logarithm of a row that is already a distribution (a softmax output).
struct LogProbabilities<'a> {
    row: &'a [f32],
    /// The log-sum-exp of logits; `None` for a distribution.
    log_sum: Option<f64>,
}

impl<'a> LogProbabilities<'a> {
    fn of(row: &'a [f32]) -> Self {
        let sum: f64 = row.iter().map(|&v| v as f64).sum();
        if row.iter().all(|&v| (0.0..=1.0).contains(&v)) && (sum - 1.0).abs() < 1e-3 {
            return LogProbabilities { row, log_sum: None };
        }
        let top = row.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
        let log_sum = row.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln() + top;
        LogProbabilities { row, log_sum: Some(log_sum) }
    }
    fn get(&self, i: usize) -> f64 {
        match self.log_sum {
            Some(log_sum) => self.row[i] as f64 - log_sum,
            None => (self.row[i] as f64).max(1e-30).ln(),
        }
    }
}

impl Model {
    /// The next-token model behind the text layer: its input length and vocabulary size, or an error naming what is missing.
    fn language_model_shape(&self) -> Result<(usize, usize)> {
        let size = self.with_text_layer("so it is not a language model", |v| v.vocabulary_size())?;
        match (self.input_shape(), self.output_shape()) {
            (Some(&[length]), Some(&[steps, classes])) if steps == length && classes == size && length > 0 => Ok((length, size)),
            (i, o) => Err(Error::State(format!(
                "model '{}' is not a next-token model: it needs token ids (None, length) in and one score per vocabulary entry at every position, (None, length, {size}), out; it takes {} and gives {}",
                self.name(),
                i.map(strata_core::fmt_shape).unwrap_or_default(),
                o.map(strata_core::fmt_shape).unwrap_or_default()
            ))),
        }
    }

    /// A next-token model's mean cross-entropy on `text` (nats per token):
    /// consecutive windows of the model's input length, each token after the
    /// first scored once, the last window overlapping the one before so the end counts too.
    pub fn text_loss(&mut self, text: &str, batch_size: usize) -> Result<TextLoss> {
        let (length, size) = self.language_model_shape()?;
        let ids = self.with_text_layer("so it is not a language model", |v| v.ids(text))?;
        if ids.len() < 2 {
            return Err(Error::argument("text", format!("has {} token(s); a loss needs at least two", ids.len())));
        }
        // Window starts: every `length` tokens, then one ending at the last token; `from` is the first target each scores.
        let last = ids.len().saturating_sub(length + 1);
        let mut windows: Vec<(usize, usize)> = (0..last).step_by(length).map(|s| (s, 0)).collect();
        let scored = windows.last().map(|&(s, _)| s + length).unwrap_or(0);
        windows.push((last, scored.saturating_sub(last)));
        let (mut total, mut count) = (0.0f64, 0usize);
        let ids = &ids;
        for chunk in windows.chunks(batch_size.max(1)) {
            let x: Vec<i32> = chunk.iter().flat_map(|&(s, _)| (0..length).map(move |k| ids.get(s + k).map_or(0, |&i| i as i32))).collect();
            let scores = self.predict(&Tensor::from_i32(x, &[chunk.len(), length])?, batch_size)?.to_vec();
            for (w, &(s, from)) in chunk.iter().enumerate() {
                for k in from..length.min(ids.len() - 1 - s) {
                    let row = &scores[(w * length + k) * size..(w * length + k + 1) * size];
                    total -= LogProbabilities::of(row).get(ids[s + k + 1]);
                    count += 1;
                }
            }
        }
        Ok(TextLoss { loss: total / count as f64, tokens: count })
    }

    /// Text sampled from a next-token model, `length` tokens after `prompt`,
    /// each drawn from the model's distribution at `temperature` (lower is
    /// more conservative), never the padding or `[UNK]` token. Contexts
    /// shorter than the model's input are padded on the left, for a
    /// character model with newlines (as text that starts a new line), else
    /// with the padding id. Returns the prompt followed by the new tokens.
    pub fn generate_text(&mut self, prompt: &str, length: usize, temperature: f32, rng: &mut strata_core::Rng) -> Result<String> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::argument("temperature", format!("must be a positive number, got {temperature}")));
        }
        let (window, size) = self.language_model_shape()?;
        let (vocabulary, split, mut context, pad) = self.with_text_layer("so it is not a language model", |v| {
            let pad = match v.id("\n") {
                newline if newline >= 2 && v.split_mode() == Split::Character => newline,
                _ => 0,
            };
            (v.get_vocabulary(), v.split_mode(), v.ids(prompt), pad)
        })?;
        let join = match split {
            Split::Character => "",
            Split::Whitespace => " ",
            Split::None => return Err(Error::State(format!("model '{}' reads whole texts as single tokens (split=None): it cannot continue a text", self.name()))),
        };
        let mut text = prompt.to_string();
        for _ in 0..length {
            let start = context.len().saturating_sub(window);
            let x: Vec<i32> = std::iter::repeat_n(pad, window - (context.len() - start)).chain(context[start..].iter().copied()).map(|i| i as i32).collect();
            let scores = self.predict(&Tensor::from_i32(x, &[1, window])?, 1)?.to_vec();
            let logp = LogProbabilities::of(&scores[(window - 1) * size..]);
            let weights: Vec<f64> = (0..size).map(|i| if i < 2 { 0.0 } else { (logp.get(i) / temperature as f64).exp() }).collect();
            let top = weights.iter().cloned().fold(0.0, f64::max);
            if top.is_nan() || top <= 0.0 {
                return Err(Error::State("the model gave no token but padding or [UNK] a probability above zero".into()));
            }
            let mut pick = rng.uniform() as f64 * weights.iter().sum::<f64>();
            let next = weights.iter().position(|&w| {
                pick -= w;
                pick <= 0.0 && w > 0.0
            });
            let next = next.unwrap_or_else(|| weights.iter().rposition(|&w| w > 0.0).unwrap_or(2));
            if !text.is_empty() && !join.is_empty() {
                text.push_str(join);
            }
            text.push_str(&vocabulary[next]);
            context.push(next);
        }
        Ok(text)
    }
}
