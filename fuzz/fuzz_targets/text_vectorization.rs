//! TextVectorization on any text: the first three bytes choose the layer's
//! arguments (standardize, split, n-grams, output mode, max_tokens,
//! output_sequence_length), the rest is lines of text (bytes that are not
//! UTF-8 must give an error). Adapting, vectorizing and reading the layer's
//! config back give an error or a result that keeps the layer's promises, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::layers::preprocessing::{Split, Standardize, TextOutput};
use strata::layers::{Layer, TextVectorization};

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<3>() else { return };
    let Ok(text) = strata::data::text::text_of(rest.to_vec(), std::path::Path::new("fuzz.txt")) else { return };
    let standardize = [Standardize::None, Standardize::Lower, Standardize::StripPunctuation, Standardize::LowerAndStripPunctuation][head[0] as usize % 4];
    let split = [Split::None, Split::Whitespace, Split::Character][head[0] as usize / 4 % 3];
    let mode = [TextOutput::Int, TextOutput::MultiHot, TextOutput::Count, TextOutput::TfIdf][head[1] as usize % 4];
    let mut v = TextVectorization::new().standardize(standardize).split(split).output_mode(mode);
    if head[1] / 4 % 4 > 0 {
        v = v.ngrams((head[1] / 4 % 4) as usize);
    }
    if head[2] % 16 > 0 {
        v = v.max_tokens((head[2] % 16) as usize);
    }
    if head[2] / 16 > 0 && mode == TextOutput::Int {
        v = v.output_sequence_length((head[2] / 16) as usize);
    }
    let docs: Vec<&str> = text.split('\n').collect();
    if v.adapt_texts(&docs).is_err() {
        return;
    }
    let vocabulary = v.get_vocabulary();
    let mut unique = vocabulary.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), vocabulary.len(), "a token twice in {vocabulary:?}");
    let Ok(out) = v.vectorize(&docs) else { return };
    assert_eq!(out.shape()[0], docs.len());
    match mode {
        TextOutput::Int => assert!(out.to_i64().unwrap().iter().all(|&i| i >= 0 && (i as usize) < vocabulary.len())),
        _ => assert!(out.to_vec().iter().all(|x| x.is_finite() && *x >= 0.0)),
    }
    let again = TextVectorization::read_config("fuzz", &v.config()).expect("the layer's own config reads back");
    assert_eq!(again.get_vocabulary(), vocabulary);
    let twice = again.vectorize(&docs).unwrap();
    assert_eq!(twice.shape(), out.shape());
    assert_eq!(twice.to_vec(), out.to_vec());
});
