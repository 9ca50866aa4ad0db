//! Text to tokens as Keras's `TextVectorization` makes them: standardize
//! (ASCII lower-casing, ASCII punctuation removed, as TensorFlow's
//! `strings.lower` and the layer's punctuation pattern do), split (on ASCII
//! whitespace runs or into Unicode characters), then n-grams joined by a
//! space; and the vocabulary `adapt` learns from token counts.

use std::collections::HashMap;

use serde_json::Value;
use strata_core::{Error, Result};

/// What `standardize` does to each text before it is split (Keras's
/// `standardize=`). Lower-casing is ASCII only, as in Keras 3 (`É` stays `É`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standardize {
    /// Leaves the text as it is (Keras's `None`).
    None,
    /// `A-Z` to `a-z`.
    Lower,
    /// Removes the 32 ASCII punctuation characters.
    StripPunctuation,
    /// Both (Keras's default).
    LowerAndStripPunctuation,
}

/// How a standardized text becomes tokens (Keras's `split=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The whole text is one token (Keras's `None`).
    None,
    /// Runs of ASCII whitespace separate tokens; none at either end (Keras's default).
    Whitespace,
    /// One token per Unicode character.
    Character,
}

/// What `TextVectorization` returns for each text (Keras's `output_mode=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextOutput {
    /// Token ids: 0 pads, 1 is out of vocabulary (Keras's default).
    Int,
    /// 1 for each vocabulary entry present (Keras's `"multi_hot"`, also `"binary"`).
    MultiHot,
    /// How often each vocabulary entry occurs.
    Count,
    /// Counts times each entry's inverse document frequency (Keras's `"tf_idf"`).
    TfIdf,
}

impl Standardize {
    pub(crate) fn name(self) -> Value {
        match self {
            Standardize::None => Value::Null,
            Standardize::Lower => "lower".into(),
            Standardize::StripPunctuation => "strip_punctuation".into(),
            Standardize::LowerAndStripPunctuation => "lower_and_strip_punctuation".into(),
        }
    }
    pub(crate) fn parse(layer: &str, v: &Value) -> Result<Standardize> {
        Ok(match v.as_str() {
            _ if v.is_null() => Standardize::None,
            Some("lower") => Standardize::Lower,
            Some("strip_punctuation") => Standardize::StripPunctuation,
            Some("lower_and_strip_punctuation") => Standardize::LowerAndStripPunctuation,
            _ => return Err(unknown(layer, "standardize", v, "'lower_and_strip_punctuation', 'lower', 'strip_punctuation' or null")),
        })
    }
    fn apply(self, text: &str) -> String {
        let lower = matches!(self, Standardize::Lower | Standardize::LowerAndStripPunctuation);
        let strip = matches!(self, Standardize::StripPunctuation | Standardize::LowerAndStripPunctuation);
        text.chars().filter(|c| !(strip && c.is_ascii_punctuation())).map(|c| if lower { c.to_ascii_lowercase() } else { c }).collect()
    }
}

impl Split {
    pub(crate) fn name(self) -> Value {
        match self {
            Split::None => Value::Null,
            Split::Whitespace => "whitespace".into(),
            Split::Character => "character".into(),
        }
    }
    pub(crate) fn parse(layer: &str, v: &Value) -> Result<Split> {
        Ok(match v.as_str() {
            _ if v.is_null() => Split::None,
            Some("whitespace") => Split::Whitespace,
            Some("character") => Split::Character,
            _ => return Err(unknown(layer, "split", v, "'whitespace', 'character' or null")),
        })
    }
}

impl TextOutput {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TextOutput::Int => "int",
            TextOutput::MultiHot => "multi_hot",
            TextOutput::Count => "count",
            TextOutput::TfIdf => "tf_idf",
        }
    }
    pub(crate) fn parse(layer: &str, v: &Value) -> Result<TextOutput> {
        Ok(match v.as_str() {
            None if v.is_null() => TextOutput::Int,
            Some("int") => TextOutput::Int,
            Some("multi_hot" | "binary") => TextOutput::MultiHot,
            Some("count") => TextOutput::Count,
            Some("tf_idf" | "tf-idf") => TextOutput::TfIdf,
            _ => return Err(unknown(layer, "output_mode", v, "'int', 'multi_hot', 'count' or 'tf_idf'")),
        })
    }
}

fn unknown(layer: &str, name: &str, v: &Value, known: &str) -> Error {
    match v {
        Value::Object(_) => Error::layer(layer, format!("{name} is a Python function ({v}), which Strata cannot run; use one of {known}")),
        _ => Error::layer(layer, format!("unknown {name} {v} (known: {known})")),
    }
}

/// Standardize, split and n-grams: one text's tokens.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tokenizer {
    pub standardize: Standardize,
    pub split: Split,
    /// The n-gram widths (Keras's `ngrams=2` is `[1, 2]`); empty: tokens as split.
    pub ngrams: Vec<usize>,
}

impl Tokenizer {
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let text = self.standardize.apply(text);
        let split: Vec<String> = match self.split {
            Split::None => vec![text],
            Split::Whitespace => text.split(|c: char| c.is_ascii_whitespace() || c == '\x0b').filter(|t| !t.is_empty()).map(str::to_string).collect(),
            Split::Character => text.chars().map(String::from).collect(),
        };
        if self.ngrams.is_empty() {
            return split;
        }
        let mut out = Vec::new();
        for &n in &self.ngrams {
            out.extend(split.windows(n).map(|w| w.join(" ")));
        }
        out
    }
}

/// The tokens `adapt` keeps from `texts`: by count, most frequent first,
/// ties in reverse byte order (Keras sorts by count and token, then reverses),
/// without the mask (`""`) and out-of-vocabulary (`[UNK]`) tokens, at most
/// `limit`; with each kept token's inverse document frequency
/// `ln(1 + documents / (1 + documents holding it))`.
pub(crate) fn learn_vocabulary(tokens_of: impl Iterator<Item = Vec<String>>, limit: Option<usize>) -> (Vec<String>, Vec<f32>) {
    let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
    let mut documents = 0u64;
    for tokens in tokens_of {
        documents += 1;
        let mut seen = std::collections::HashSet::new();
        for t in tokens {
            let first = seen.insert(t.clone());
            let entry = counts.entry(t).or_default();
            entry.0 += 1;
            entry.1 += first as u64;
        }
    }
    counts.remove("");
    counts.remove(super::text_vectorization::OOV);
    let mut sorted: Vec<(String, (u64, u64))> = counts.into_iter().collect();
    sorted.sort_unstable_by(|(a, (ca, _)), (b, (cb, _))| cb.cmp(ca).then_with(|| b.as_bytes().cmp(a.as_bytes())));
    sorted.truncate(limit.unwrap_or(usize::MAX));
    let idf = sorted.iter().map(|(_, (_, docs))| (1.0 + documents as f64 / (1.0 + *docs as f64)).ln() as f32).collect();
    (sorted.into_iter().map(|(t, _)| t).collect(), idf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_tokens() {
        let t = Tokenizer { standardize: Standardize::LowerAndStripPunctuation, split: Split::Whitespace, ngrams: vec![] };
        assert_eq!(t.tokens("  The CAT's \tÉTÉ\u{a0}x  "), ["the", "cats", "ÉtÉ\u{a0}x"]);
        let t = Tokenizer { standardize: Standardize::None, split: Split::Whitespace, ngrams: vec![1, 2] };
        assert_eq!(t.tokens("a b c"), ["a", "b", "c", "a b", "b c"]);
        let t = Tokenizer { standardize: Standardize::None, split: Split::Character, ngrams: vec![3] };
        assert_eq!(t.tokens("ab"), Vec::<String>::new());
    }

    #[test]
    fn vocabulary_by_count_then_reverse_bytes() {
        let docs = vec![vec!["b".to_string(), "a".into(), "c".into(), "c".into(), "".into(), "[UNK]".into()]];
        let (tokens, idf) = learn_vocabulary(docs.into_iter(), Some(2));
        assert_eq!(tokens, ["c", "b"]);
        assert!((idf[0] - (1.5f64).ln() as f32).abs() < 1e-7);
    }
}
