//! `TextVectorization`: texts to token ids or to vectors over a vocabulary,
//! as Keras's layer. The vocabulary is learned by `adapt_texts` or given,
//! and travels in the layer's config, so a saved model carries it.

use std::collections::HashMap;

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::super::{base_accessors, check_input, not_built, Layer, LayerBase};
use super::tokenize::{learn_vocabulary, Split, Standardize, TextOutput, Tokenizer};
use crate::layers::config as cfg;

/// Keras's out-of-vocabulary token.
pub const OOV: &str = "[UNK]";

/// Texts to tensors (Keras's `TextVectorization`): each text is
/// standardized, split into tokens (words, characters, or n-grams of them)
/// and looked up in a vocabulary. In `Int` mode (the default) the result is
/// token ids, `0` padding and `1` for tokens outside the vocabulary, padded or
/// cut to `output_sequence_length`; in the other modes, one vector per text
/// over the vocabulary (entry 0 counting unknown tokens).
///
/// In a model, text goes in through [`TextVectorization::vectorize`] (or
/// [`crate::model::Model::vectorize`], `strata predict --text`), and tensors
/// pass through the layer as it produced them: token ids, checked to be in
/// the vocabulary, or vectors as wide as it. Its config holds the vocabulary,
/// so `save` keeps it with the model.
///
/// ```
/// use strata::layers::TextVectorization;
///
/// # fn main() -> strata::Result<()> {
/// let mut v = TextVectorization::new().output_sequence_length(4);
/// v.adapt_texts(&["the cat sat", "the dog"])?;
/// assert_eq!(v.get_vocabulary(), ["", "[UNK]", "the", "sat", "dog", "cat"]);
/// assert_eq!(v.vectorize(&["The bird sat."])?.to_i64()?, [2, 1, 3, 0]);
/// # Ok(()) }
/// ```
///
/// # Shapes
/// input and output: `(batch, output_sequence_length)` token ids in `Int`
/// mode, `(batch, width)` otherwise (`width`: the vocabulary size, or
/// `max_tokens` with `pad_to_max_tokens`).
pub struct TextVectorization {
    base: LayerBase,
    tokenizer: Tokenizer,
    output_mode: TextOutput,
    max_tokens: Option<usize>,
    output_sequence_length: Option<usize>,
    pad_to_max_tokens: bool,
    /// The tokens, without the special ones, most frequent first.
    tokens: Vec<String>,
    index: HashMap<String, usize>,
    /// One inverse document frequency per entry of `tokens` (`TfIdf` only).
    idf: Vec<f32>,
    /// The vocabulary (and idf weights) given at construction or read from a
    /// config, as given: `adapt` refuses then, as in Keras. Read again
    /// whenever an argument it depends on changes, so the builders' order does not matter.
    given: Option<(Vec<String>, Option<Vec<f32>>)>,
    /// Why the given vocabulary does not fit the arguments, reported by `build`, `adapt` and `vectorize`.
    vocabulary_error: Option<String>,
    /// The `vocabulary_size` of a config without its vocabulary (Keras's
    /// `to_json()` leaves an adapted one out): ids are checked against it.
    declared_size: Option<usize>,
    built: Option<Vec<usize>>,
}

impl Default for TextVectorization {
    fn default() -> Self {
        Self::new()
    }
}

impl TextVectorization {
    /// Keras's defaults: lower-case, strip punctuation, split on whitespace,
    /// token ids, no size limit; the vocabulary comes from `adapt_texts`.
    pub fn new() -> Self {
        TextVectorization {
            base: LayerBase::new("TextVectorization"),
            tokenizer: Tokenizer { standardize: Standardize::LowerAndStripPunctuation, split: Split::Whitespace, ngrams: Vec::new() },
            output_mode: TextOutput::Int,
            max_tokens: None,
            output_sequence_length: None,
            pad_to_max_tokens: false,
            tokens: Vec::new(),
            index: HashMap::new(),
            idf: Vec::new(),
            given: None,
            vocabulary_error: None,
            declared_size: None,
            built: None,
        }
    }
    /// The most vocabulary entries, the special tokens included (Keras's `max_tokens`).
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = Some(n);
        self.resolve();
        self
    }
    /// What is done to each text before splitting (default: lower-case and strip punctuation).
    pub fn standardize(mut self, standardize: Standardize) -> Self {
        self.tokenizer.standardize = standardize;
        self
    }
    /// How texts become tokens (default: on whitespace).
    pub fn split(mut self, split: Split) -> Self {
        self.tokenizer.split = split;
        self
    }
    /// Adds the n-grams of every width up to `n` (Keras's `ngrams=n`).
    pub fn ngrams(mut self, n: usize) -> Self {
        self.tokenizer.ngrams = (1..=n).collect();
        self
    }
    /// Only n-grams of these widths (Keras's `ngrams=(1, 3)`).
    pub fn ngram_widths(mut self, widths: &[usize]) -> Self {
        self.tokenizer.ngrams = widths.to_vec();
        self
    }
    /// What each text becomes (default: token ids).
    pub fn output_mode(mut self, mode: TextOutput) -> Self {
        self.output_mode = mode;
        self.resolve();
        self
    }
    /// Pads with 0 or cuts each text's ids to this length (`Int` mode; by
    /// default a batch is padded to its longest text).
    pub fn output_sequence_length(mut self, n: usize) -> Self {
        self.output_sequence_length = Some(n);
        self
    }
    /// Makes vectors `max_tokens` wide whatever the vocabulary's size (not `Int` mode).
    pub fn pad_to_max_tokens(mut self, pad: bool) -> Self {
        self.pad_to_max_tokens = pad;
        self
    }
    /// A fixed vocabulary (Keras's `vocabulary=`), with or without the special
    /// tokens at its front; `adapt_texts` then refuses. A repeated token is an error.
    pub fn vocabulary<S: AsRef<str>>(self, tokens: &[S]) -> Self {
        self.given_vocabulary(tokens, None)
    }
    /// A fixed vocabulary with its inverse document frequencies (`TfIdf` mode;
    /// Keras's `vocabulary=`, `idf_weights=`).
    pub fn vocabulary_with_idf<S: AsRef<str>>(self, tokens: &[S], idf_weights: &[f32]) -> Self {
        self.given_vocabulary(tokens, Some(idf_weights.to_vec()))
    }
    fn given_vocabulary<S: AsRef<str>>(mut self, tokens: &[S], idf: Option<Vec<f32>>) -> Self {
        self.given = Some((tokens.iter().map(|t| t.as_ref().to_string()).collect(), idf));
        self.resolve();
        self
    }

    /// Reads the given vocabulary again for the current arguments (which
    /// special tokens lead it depends on the output mode), keeping why it
    /// does not fit, if it does not.
    fn resolve(&mut self) {
        if let Some((tokens, idf)) = self.given.clone() {
            self.vocabulary_error = self.set_vocabulary(tokens, idf).err();
        }
    }

    /// The special tokens at the front of the vocabulary: `""` and `[UNK]` in
    /// `Int` mode, `[UNK]` in the others.
    fn specials(&self) -> &'static [&'static str] {
        match self.output_mode {
            TextOutput::Int => &["", OOV],
            _ => &[OOV],
        }
    }

    fn set_vocabulary(&mut self, mut tokens: Vec<String>, mut idf: Option<Vec<f32>>) -> std::result::Result<(), String> {
        let specials = self.specials();
        if tokens.is_empty() {
            return Err("cannot set an empty vocabulary".into());
        }
        if let Some(w) = &idf {
            if self.output_mode != TextOutput::TfIdf {
                return Err(format!("idf_weights are only for output_mode 'tf_idf', not '{}'", self.output_mode.name()));
            }
            if w.len() != tokens.len() || w.iter().any(|x| !x.is_finite()) {
                return Err(format!("idf_weights must be {} finite numbers, one per vocabulary entry; received {}", tokens.len(), w.len()));
            }
        } else if self.output_mode == TextOutput::TfIdf {
            return Err("output_mode 'tf_idf' with a given vocabulary needs its idf_weights too".into());
        }
        if tokens.len() >= specials.len() && tokens[..specials.len()].iter().zip(specials).all(|(a, b)| a == b) {
            tokens.drain(..specials.len());
            if let Some(w) = idf.as_mut() {
                w.drain(..specials.len());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in tokens.iter().enumerate() {
            if t.is_empty() {
                return Err(format!("the mask token \"\" is at vocabulary index {i}: leave the special tokens out, or put them first in this order: {specials:?}"));
            }
            if !seen.insert(t.as_str()) {
                return Err(format!("the vocabulary repeats the token {t:?}"));
            }
        }
        let size = specials.len() + tokens.len();
        if let Some(max) = self.max_tokens.filter(|&m| size > m) {
            return Err(format!("a vocabulary of {size} entries (the special tokens included) is larger than max_tokens={max}"));
        }
        self.set_tokens(tokens, idf.unwrap_or_default());
        Ok(())
    }

    /// The vocabulary's tokens (without the special ones) and their idf weights, indexed.
    fn set_tokens(&mut self, tokens: Vec<String>, idf: Vec<f32>) {
        self.index = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i)).collect();
        (self.tokens, self.idf) = (tokens, idf);
    }

    fn check_arguments(&self) -> Result<()> {
        self.base.check()?;
        let name = &self.base.name;
        if let Some(e) = &self.vocabulary_error {
            return Err(Error::layer(name, e.clone()));
        }
        if self.max_tokens.is_some_and(|m| m <= 1) {
            return Err(Error::layer(name, format!("max_tokens must be greater than 1, received max_tokens={}", self.max_tokens.unwrap_or(0))));
        }
        if self.tokenizer.ngrams.contains(&0) {
            return Err(Error::layer(name, format!("ngrams must be positive, received {:?}", self.tokenizer.ngrams)));
        }
        if self.output_mode != TextOutput::Int && self.output_sequence_length.is_some() {
            return Err(Error::layer(name, format!("output_sequence_length is only for output_mode 'int', not '{}'", self.output_mode.name())));
        }
        if self.pad_to_max_tokens && self.max_tokens.is_none() && self.output_mode != TextOutput::Int {
            return Err(Error::layer(name, "pad_to_max_tokens needs max_tokens"));
        }
        Ok(())
    }

    /// Learns the vocabulary from `texts` (Keras's `adapt`): the most frequent
    /// tokens first, at most `max_tokens` entries with the special ones, and
    /// in `TfIdf` mode each token's inverse document frequency (each text is a document).
    pub fn adapt_texts<S: AsRef<str>>(&mut self, texts: &[S]) -> Result<()> {
        self.check_arguments()?;
        if self.given.is_some() {
            return Err(Error::layer(&self.base.name, "cannot adapt a TextVectorization whose vocabulary was given (vocabulary= or its config)"));
        }
        if texts.is_empty() {
            return Err(Error::layer(&self.base.name, "adapt needs at least one text, received none"));
        }
        let limit = self.max_tokens.map(|m| m - self.specials().len());
        let (tokens, idf) = learn_vocabulary(texts.iter().map(|t| self.tokenizer.tokens(t.as_ref())), limit);
        let idf = if self.output_mode == TextOutput::TfIdf { idf } else { Vec::new() };
        self.set_tokens(tokens, idf);
        Ok(())
    }

    /// The vocabulary as Keras's `get_vocabulary()`: the special tokens, then
    /// the learned or given ones; an id is an index into it.
    pub fn get_vocabulary(&self) -> Vec<String> {
        self.specials().iter().map(|s| s.to_string()).chain(self.tokens.iter().cloned()).collect()
    }

    /// The number of vocabulary entries, the special tokens included.
    pub fn vocabulary_size(&self) -> usize {
        match self.declared_size {
            Some(n) if self.tokens.is_empty() => n,
            _ => self.specials().len() + self.tokens.len(),
        }
    }

    /// The shape of one text's tensor, when the arguments fix it: what a
    /// model takes in place of Keras's string input.
    pub fn text_input_shape(&self) -> Option<Vec<usize>> {
        match self.output_mode {
            TextOutput::Int => self.output_sequence_length.map(|n| vec![n]),
            _ => Some(vec![self.width()]),
        }
    }

    /// The split this layer makes texts into (to join generated tokens back).
    pub fn split_mode(&self) -> Split {
        self.tokenizer.split
    }

    /// A text's tokens after standardizing, splitting and n-grams.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.tokenizer.tokens(text)
    }

    /// The id of `token`: `1` (`[UNK]`) if not in the vocabulary, `0` for `""`, in `Int` mode.
    pub fn id(&self, token: &str) -> usize {
        let start = self.specials().len();
        match self.index.get(token) {
            _ if token.is_empty() && self.output_mode == TextOutput::Int => 0,
            Some(&i) => start + i,
            None => start - 1,
        }
    }

    /// A text's token ids, neither padded nor cut (all of a long text, for
    /// windows of a language model).
    pub fn ids(&self, text: &str) -> Vec<usize> {
        self.tokens(text).iter().map(|t| self.id(t)).collect()
    }

    /// The width of each text's vector outside `Int` mode.
    fn width(&self) -> usize {
        match (self.pad_to_max_tokens, self.max_tokens) {
            (true, Some(m)) => m,
            _ => self.vocabulary_size(),
        }
    }

    /// Texts to a tensor (Keras's call on strings): int32 ids `(n, length)` in
    /// `Int` mode, float32 `(n, width)` in the others.
    pub fn vectorize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor> {
        self.vectorize_to(texts, self.output_sequence_length)
    }

    /// [`TextVectorization::vectorize`] with ids padded or cut to `length`
    /// (`None`: to the batch's longest) whatever `output_sequence_length` says.
    pub fn vectorize_to<S: AsRef<str>>(&self, texts: &[S], length: Option<usize>) -> Result<Tensor> {
        self.check_arguments()?;
        if self.tokens.is_empty() && self.declared_size.is_some() {
            return Err(Error::layer(&self.base.name, "its config has no vocabulary (Keras's to_json() leaves an adapted one out; the model's .keras file has it): it takes token ids, not text"));
        }
        if self.output_mode == TextOutput::Int {
            let ids: Vec<Vec<usize>> = texts.iter().map(|t| self.ids(t.as_ref())).collect();
            let length = length.unwrap_or_else(|| ids.iter().map(Vec::len).max().unwrap_or(0));
            let flat: Vec<i32> = ids.iter().flat_map(|row| row.iter().map(|&i| i as i32).chain(std::iter::repeat(0)).take(length)).collect();
            return Tensor::from_i32(flat, &[texts.len(), length]);
        }
        if self.tokens.is_empty() && !self.pad_to_max_tokens {
            return Err(Error::layer(&self.base.name, format!("output_mode '{}' needs a vocabulary: call adapt_texts or give one", self.output_mode.name())));
        }
        let width = self.width();
        let idf = self.idf_row(width);
        let mut out = vec![0f32; texts.len() * width];
        for (row, text) in out.chunks_mut(width.max(1)).zip(texts) {
            for token in self.tokens(text.as_ref()) {
                let i = self.id(&token);
                if token.is_empty() || i >= width {
                    continue; // the mask token, and ids past a narrower width, are dropped, as Keras's bincount drops them
                }
                row[i] = match self.output_mode {
                    TextOutput::MultiHot => 1.0,
                    _ => row[i] + 1.0,
                };
            }
            if let Some(idf) = &idf {
                row.iter_mut().zip(idf).for_each(|(v, w)| *v *= w);
            }
        }
        Tensor::new(out, &[texts.len(), width])
    }

    /// `TfIdf` weights over the output width: the mean for `[UNK]` (Keras has
    /// no document count for it), the tokens', zeros past the vocabulary.
    fn idf_row(&self, width: usize) -> Option<Vec<f32>> {
        if self.output_mode != TextOutput::TfIdf {
            return None;
        }
        let mean = if self.idf.is_empty() { 0.0 } else { self.idf.iter().sum::<f32>() / self.idf.len() as f32 };
        Some(std::iter::once(mean).chain(self.idf.iter().copied()).chain(std::iter::repeat(0.0)).take(width).collect())
    }

    /// The shape of one text's tensor, once known.
    fn vectorized_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        let expected = match (self.text_input_shape(), input_shape) {
            (Some(shape), _) => shape,
            (None, &[n]) => vec![n],
            (None, _) => return Err(Error::layer(&self.base.name, format!("takes token ids of shape (None, length), received input_shape={}", fmt_shape(input_shape)))),
        };
        if input_shape != expected {
            return Err(Error::layer(&self.base.name, format!("in a model, TextVectorization takes what it makes from text ({}); received input_shape={} (text goes in through vectorize)", super::super::batch_shape(&expected), fmt_shape(input_shape))));
        }
        Ok(expected)
    }
}

impl Layer for TextVectorization {
    fn class_name(&self) -> &'static str {
        "TextVectorization"
    }
    base_accessors!();
    fn text_vectorization(&self) -> Option<&TextVectorization> {
        Some(self)
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.check_arguments()?;
        let shape = self.vectorized_shape(input_shape)?;
        self.built = Some(shape.clone());
        Ok(shape)
    }
    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        check_input(self, x, self.built.as_ref().ok_or_else(|| not_built(self))?)?;
        if self.output_mode == TextOutput::Int {
            let size = self.vocabulary_size() as i64;
            let ids = x.to_i64().map_err(|e| Error::layer(&self.base.name, e.to_string()))?;
            let length = x.shape()[1].max(1);
            if let Some((at, id)) = ids.iter().enumerate().find(|&(_, &id)| id < 0 || id >= size) {
                return Err(Error::layer(&self.base.name, format!("token id {id} at position [{}, {}] is outside the vocabulary of {size} entries", at / length, at % length)));
            }
        }
        Ok(x.clone())
    }
    fn own_config(&self) -> Value {
        let ngrams = match &self.tokenizer.ngrams[..] {
            [] => Value::Null,
            w if *w == (1..=w.len()).collect::<Vec<_>>()[..] => json!(w.len()),
            w => json!(w),
        };
        json!({
            "max_tokens": self.max_tokens,
            "standardize": self.tokenizer.standardize.name(),
            "split": self.tokenizer.split.name(),
            "ngrams": ngrams,
            "output_mode": self.output_mode.name(),
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "sparse": false,
            "ragged": false,
            "vocabulary": if self.tokens.is_empty() { Value::Null } else { json!(self.tokens) },
            "idf_weights": if self.idf.is_empty() { Value::Null } else { json!(self.idf) },
            "encoding": "utf-8",
            "vocabulary_size": self.vocabulary_size(),
        })
    }
}

impl TextVectorization {
    /// Reads Keras's config of this layer (with its vocabulary, when it has one); `l` names it in errors.
    pub(crate) fn from_config(l: &str, config: &Value) -> Result<Box<dyn Layer>> {
        Ok(Box::new(TextVectorization::read_config(l, config)?))
    }

    /// Reads Keras's `get_config()` of a `TextVectorization` (with its
    /// vocabulary, when it has one; Python callables are refused); `l` names it in errors.
    pub fn read_config(l: &str, config: &Value) -> Result<TextVectorization> {
        for (name, what) in [("sparse", "sparse outputs"), ("ragged", "ragged outputs")] {
            if cfg::bool_field(l, config, name, false)? {
                return Err(Error::layer(l, format!("{what} ({name}=true) are not supported: Strata's tensors are dense")));
            }
        }
        if let Some(e) = config.get("encoding").filter(|e| !e.is_null() && e.as_str().is_none_or(|s| !s.eq_ignore_ascii_case("utf-8"))) {
            return Err(cfg::bad(l, "encoding", "'utf-8'", e));
        }
        let mut layer = TextVectorization::new();
        let null = Value::Null;
        layer.tokenizer.standardize = match config.get("standardize") {
            None => Standardize::LowerAndStripPunctuation,
            Some(v) => Standardize::parse(l, v)?,
        };
        layer.tokenizer.split = match config.get("split") {
            None => Split::Whitespace,
            Some(v) => Split::parse(l, v)?,
        };
        layer.tokenizer.ngrams = match config.get("ngrams").unwrap_or(&null) {
            Value::Null => Vec::new(),
            Value::Number(n) => (1..=n.as_u64().filter(|&n| n > 0 && n < 1024).ok_or_else(|| cfg::bad(l, "ngrams", "a positive number or a list of them", &config["ngrams"]))? as usize).collect(),
            v @ Value::Array(a) => a.iter().map(|n| n.as_u64().filter(|&n| n > 0 && n < 1024).map(|n| n as usize).ok_or_else(|| cfg::bad(l, "ngrams", "a positive number or a list of them", v))).collect::<Result<_>>()?,
            v => return Err(cfg::bad(l, "ngrams", "a positive number or a list of them", v)),
        };
        layer.output_mode = TextOutput::parse(l, config.get("output_mode").unwrap_or(&null))?;
        layer.max_tokens = cfg::optional_usize_field(l, config, "max_tokens")?;
        layer.output_sequence_length = cfg::optional_usize_field(l, config, "output_sequence_length")?;
        layer.pad_to_max_tokens = cfg::bool_field(l, config, "pad_to_max_tokens", false)?;
        layer.base.name = l.to_string();
        layer.check_arguments()?;
        match config.get("vocabulary").unwrap_or(&null) {
            v @ Value::Array(a) => {
                let tokens = a.iter().map(|t| t.as_str().map(str::to_string).ok_or_else(|| cfg::bad(l, "vocabulary", "a list of strings", v))).collect::<Result<Vec<_>>>()?;
                let idf = match config.get("idf_weights").unwrap_or(&null) {
                    Value::Null => None,
                    w @ Value::Array(a) => Some(a.iter().map(|x| x.as_f64().map(|x| x as f32).ok_or_else(|| cfg::bad(l, "idf_weights", "a list of numbers", w))).collect::<Result<Vec<_>>>()?),
                    w => return Err(cfg::bad(l, "idf_weights", "a list of numbers", w)),
                };
                layer.given = Some((tokens, idf));
                layer.resolve();
                if let Some(e) = layer.vocabulary_error.take() {
                    return Err(Error::layer(l, e));
                }
            }
            Value::Null if config.get("vocabulary_size").is_some_and(|n| !n.is_null()) => {
                let size = cfg::usize_field(l, config, "vocabulary_size")?;
                if size > layer.specials().len() {
                    layer.declared_size = Some(size);
                }
            }
            Value::String(path) => return Err(Error::layer(l, format!("vocabulary is a file path ('{path}'); Strata reads vocabularies only as lists in the config"))),
            Value::Null => {}
            v => return Err(cfg::bad(l, "vocabulary", "a list of strings", v)),
        }
        Ok(layer)
    }
}
