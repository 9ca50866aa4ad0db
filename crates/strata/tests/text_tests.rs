//! Text in: `TextVectorization` against Keras 3 (fixtures written by
//! `tools/keras_fixtures.py text`), its vocabulary kept in a saved model,
//! text files and folders, and the errors bad text and bad arguments get.

mod common;

use common::{assert_close, fixture, floats, temp_dir};
use strata::data::text::{read_nonempty_text, read_text, TextFolder};
use strata::layers::preprocessing::{Split, Standardize, TextOutput};
use strata::layers::{Embedding, GlobalAveragePooling1D, Layer, TextVectorization};
use strata::prelude::*;

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn check_against_case(what: &str, layer: &TextVectorization, case: &serde_json::Value) {
    assert_eq!(layer.get_vocabulary(), strings(&case["vocabulary"]), "{what}: vocabulary");
    assert_eq!(layer.vocabulary_size() as u64, case["vocabulary_size"].as_u64().unwrap(), "{what}: vocabulary_size");
    let out = layer.vectorize(&strings(&case["probes"])).unwrap();
    let want = &case["output"];
    let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    assert_eq!(out.shape(), shape, "{what}: output shape");
    let got: Vec<f32> = match out.dtype() {
        strata::core::DType::F32 => out.to_vec(),
        _ => out.to_i64().unwrap().iter().map(|&i| i as f32).collect(),
    };
    assert_close(&format!("{what}: output"), &got, &floats(&want["data"]), 1e-6);
}

#[test]
fn text_vectorization_matches_keras() {
    let fx = fixture("keras_text.json");
    let corpus = strings(&fx["corpus"]);
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut layer = TextVectorization::read_config(name, &case["config"]).unwrap();
        if case["adapted"].as_bool().unwrap() {
            layer.adapt_texts(&corpus).unwrap();
        }
        check_against_case(name, &layer, case);
        if let Some(idf) = case.get("idf_weights") {
            let own = layer.own_config();
            let learned: Vec<f32> = own["idf_weights"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            let want = floats(idf);
            // Keras's idf_weights: the mean for [UNK], the tokens', zeros to max_tokens.
            assert_close(&format!("{name}: idf_weights"), &learned, &want[1..1 + learned.len()], 1e-6);
        }
        // The config Strata writes (vocabulary included) reads back to the same layer.
        let again = TextVectorization::read_config(name, &layer.config()).unwrap();
        check_against_case(&format!("{name} read back"), &again, case);
    }
}

fn tiny_text_model() -> Sequential {
    let mut v = TextVectorization::new().output_sequence_length(4).named("words");
    v.adapt_texts(&["good good fun", "bad awful bad", "fun good"]).unwrap();
    let size = v.vocabulary_size();
    let mut model = Sequential::with_seed(3);
    model.add(v.input_shape([4])).unwrap();
    model.add(Embedding::new(size, 3)).unwrap();
    model.add(GlobalAveragePooling1D::new()).unwrap();
    model.add(Dense::new(1).activation("sigmoid")).unwrap();
    model.compile("adam", "binary_crossentropy", &["accuracy"]).unwrap();
    model
}

#[test]
fn a_saved_model_keeps_its_vocabulary() {
    let mut model = tiny_text_model();
    let texts = ["good fun", "awful bad bad", "unheard words here too many"];
    let x = model.vectorize(&texts).unwrap();
    assert_eq!(x.shape(), [3, 4]);
    model.fit(&x, Tensor::new(vec![1.0, 0.0, 0.0], &[3, 1]).unwrap(), FitOptions { epochs: 2, batch_size: 2, verbose: 0, ..Default::default() }).unwrap();
    let before = model.predict_texts(&texts, 8).unwrap().to_vec();
    let dir = temp_dir("text_model");
    let path = dir.join("m.safetensors");
    model.save(&path).unwrap();
    let mut loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.vectorize(&texts).unwrap().to_i64().unwrap(), x.to_i64().unwrap());
    assert_eq!(loaded.predict_texts(&texts, 8).unwrap().to_vec(), before);
    let layer = loaded.text_layer().unwrap();
    let vocabulary = layer.lock().text_vectorization().unwrap().get_vocabulary();
    assert_eq!(vocabulary, ["", "[UNK]", "good", "fun", "bad", "awful"]);
}

#[test]
fn token_ids_outside_the_vocabulary_are_named() {
    let mut model = tiny_text_model();
    let x = Tensor::from_i32(vec![2, 3, 0, 0, 2, 6, 1, 0], &[2, 4]).unwrap();
    let e = model.predict(&x, 8).unwrap_err().to_string();
    assert!(e.contains("words") && e.contains("token id 6 at position [1, 1]") && e.contains("6 entries"), "{e}");
    let e = Sequential::new().vectorize(&["x"]).unwrap_err().to_string();
    assert!(e.contains("does not start with a TextVectorization"), "{e}");
}

#[test]
fn bad_arguments_get_clear_errors() {
    let layer_error = |v: TextVectorization| {
        let mut model = Sequential::new();
        model.add(v.input_shape([3])).and_then(|_| model.build_from_declared()).unwrap_err().to_string()
    };
    let e = layer_error(TextVectorization::new().vocabulary(&["a", "b", "a"]));
    assert!(e.contains("repeats the token \"a\""), "{e}");
    assert_eq!(e.matches("text_vectorization").count(), 1, "the layer named once: {e}");
    let e = layer_error(TextVectorization::new().output_mode(TextOutput::MultiHot).output_sequence_length(3));
    assert!(e.contains("output_sequence_length is only for output_mode 'int'"), "{e}");
    let e = layer_error(TextVectorization::new().output_mode(TextOutput::TfIdf).vocabulary(&["a"]));
    assert!(e.contains("needs its idf_weights"), "{e}");
    let e = layer_error(TextVectorization::new().max_tokens(1));
    assert!(e.contains("max_tokens must be greater than 1"), "{e}");
    let e = layer_error(TextVectorization::new().max_tokens(3).vocabulary(&["a", "b"]));
    assert!(e.contains("larger than max_tokens=3"), "{e}");
    let e = layer_error(TextVectorization::new().vocabulary(&["a", "", "b"]));
    assert!(e.contains("mask token \"\" is at vocabulary index 1"), "{e}");

    let mut given = TextVectorization::new().vocabulary(&["a"]);
    assert!(given.adapt_texts(&["a b"]).unwrap_err().to_string().contains("vocabulary was given"));
    let mut empty = TextVectorization::new();
    assert!(empty.adapt_texts::<&str>(&[]).unwrap_err().to_string().contains("at least one text"));
    let unadapted = TextVectorization::new().output_mode(TextOutput::Count);
    assert!(unadapted.vectorize(&["a"]).unwrap_err().to_string().contains("needs a vocabulary"));

    for (config, expected) in [
        (serde_json::json!({"standardize": "upper"}), "unknown standardize \"upper\""),
        (serde_json::json!({"standardize": {"class_name": "function", "config": "my_standardize"}}), "Python function"),
        (serde_json::json!({"split": "sentence"}), "unknown split"),
        (serde_json::json!({"output_mode": "one_hot"}), "unknown output_mode"),
        (serde_json::json!({"ngrams": 0}), "ngrams"),
        (serde_json::json!({"ragged": true}), "ragged"),
        (serde_json::json!({"vocabulary": "vocab.txt"}), "file path"),
        (serde_json::json!({"vocabulary": ["a", 3]}), "vocabulary"),
    ] {
        let e = strata::io::keras_config::layer_from_config("TextVectorization", &config).err().unwrap().to_string();
        assert!(e.contains(expected), "{config}: {e}");
    }
}

#[test]
fn a_given_vocabulary_does_not_depend_on_the_builders_order() {
    // Which special tokens lead a vocabulary depends on the output mode, set before or after it.
    let texts = ["a b zz", "zz"];
    let before = TextVectorization::new().output_mode(TextOutput::MultiHot).vocabulary(&["[UNK]", "a", "b"]);
    let after = TextVectorization::new().vocabulary(&["[UNK]", "a", "b"]).output_mode(TextOutput::MultiHot);
    assert_eq!(before.get_vocabulary(), ["[UNK]", "a", "b"]);
    assert_eq!(after.get_vocabulary(), before.get_vocabulary());
    assert_eq!(after.vectorize(&texts).unwrap().to_vec(), before.vectorize(&texts).unwrap().to_vec());
    let idf_first = TextVectorization::new().vocabulary_with_idf(&["a", "b"], &[0.5, 2.0]).output_mode(TextOutput::TfIdf);
    assert_eq!(idf_first.vectorize(&texts).unwrap().to_vec(), [1.25, 0.5, 2.0, 1.25, 0.0, 0.0]);
    let too_many = TextVectorization::new().vocabulary(&["a", "b"]).max_tokens(3);
    assert!(too_many.vectorize(&texts).unwrap_err().to_string().contains("larger than max_tokens=3"));
}

#[test]
fn builders_and_configs_agree() {
    let mut v = TextVectorization::new().standardize(Standardize::None).split(Split::Character).ngram_widths(&[2]).max_tokens(5);
    v.adapt_texts(&["abab", "ba"]).unwrap();
    // Bigrams of characters: "a b" twice, "b a" twice (once in each text): a tie, in reverse byte order.
    assert_eq!(v.get_vocabulary(), ["", "[UNK]", "b a", "a b"]);
    let config = v.own_config();
    assert_eq!(config["ngrams"], serde_json::json!([2]));
    assert_eq!(config["split"], "character");
    assert!(config["standardize"].is_null());
    let w = TextVectorization::read_config("t", &v.config()).unwrap();
    assert_eq!(w.ids("abx"), [3, 1]);
}

#[test]
fn text_files_and_folders() {
    let dir = temp_dir("text_folder");
    for (class, file, text) in [("neg", "1.txt", "bad"), ("pos", "2.txt", "good"), ("pos", "1.txt", ""), ("pos", "skip.md", "no")] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        std::fs::write(dir.join(class).join(file), text).unwrap();
    }
    let folder = TextFolder::open(&dir).unwrap();
    assert_eq!(folder.class_names, ["neg", "pos"]);
    assert_eq!(folder.labels, [0, 1, 1]);
    assert_eq!(folder.load().unwrap(), ["bad", "", "good"]);

    std::fs::write(dir.join("pos").join("3.txt"), b"ok\n\xc3\x28").unwrap();
    let e = folder_error(&dir);
    assert!(e.contains("3.txt") && e.contains("offset 3 (line 2)"), "{e}");
    let e = read_nonempty_text(&dir.join("pos").join("1.txt")).unwrap_err().to_string();
    assert!(e.contains("1.txt") && e.contains("is empty"), "{e}");
    assert!(read_text(&dir.join("missing.txt")).is_err());
    let e = TextFolder::open(&dir.join("neg")).unwrap_err().to_string();
    assert!(e.contains("no class sub-folders"), "{e}");
}

fn folder_error(dir: &std::path::Path) -> String {
    TextFolder::open(dir).unwrap().load().unwrap_err().to_string()
}

fn tiny_language_model(text: &str, window: usize) -> Sequential {
    let mut v = TextVectorization::new().standardize(Standardize::None).split(Split::Character).output_sequence_length(window);
    v.adapt_texts(&[text]).unwrap();
    let size = v.vocabulary_size();
    let mut model = Sequential::with_seed(5);
    model.add(v.input_shape([window])).unwrap();
    model.add(Embedding::new(size, 4)).unwrap();
    model.add(strata::layers::LSTM::new(8).return_sequences(true)).unwrap();
    model.add(Dense::new(size)).unwrap();
    model.compile("adam", strata::losses::SparseCategoricalCrossentropy::new(true), &[]).unwrap();
    model
}

#[test]
fn text_loss_scores_every_next_token_once() {
    let text = "abcab\ncabca bcabc"; // 17 characters: 16 next-character targets
    let mut model = tiny_language_model(text, 4);
    let ids = model.text_layer().unwrap().lock().text_vectorization().unwrap().ids(text);
    // The same mean from the compiled loss over windows that cover every target once: 0..4, 4..8, 8..12, 12..16.
    let x: Vec<i32> = (0..4).flat_map(|w| (0..4).map(move |k| (w * 4 + k) as usize)).map(|i| ids[i] as i32).collect();
    let y: Vec<i32> = (0..4).flat_map(|w| (0..4).map(move |k| (w * 4 + k + 1) as usize)).map(|i| ids[i] as i32).collect();
    let want = model.evaluate(Tensor::from_i32(x, &[4, 4]).unwrap(), Tensor::from_i32(y, &[4, 4]).unwrap(), 8).unwrap().get("loss").unwrap();
    let got = model.text_loss(text, 3).unwrap();
    assert_eq!(got.tokens, 16);
    assert!((got.loss - want).abs() < 1e-5, "{} vs {want}", got.loss);
    // A text whose end falls inside a window: the last window overlaps, each target still counted once.
    let got = model.text_loss(&text[..15], 2).unwrap();
    assert_eq!(got.tokens, 14);
    assert!(model.text_loss("a", 2).unwrap_err().to_string().contains("at least two"));
    let got = model.text_loss("abc", 2).unwrap(); // shorter than a window
    assert_eq!(got.tokens, 2);
}

#[test]
fn generated_text_is_reproducible_and_from_the_vocabulary() {
    let text = "abcabcabc abc\nabc";
    let mut model = tiny_language_model(text, 5);
    let a = model.generate_text("ab", 30, 1.0, &mut strata::Rng::new(7)).unwrap();
    let b = model.generate_text("ab", 30, 1.0, &mut strata::Rng::new(7)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.chars().count(), 32);
    assert!(a.starts_with("ab") && a.chars().all(|c| "abc \n".contains(c)), "{a:?}");
    let e = model.generate_text("ab", 3, 0.0, &mut strata::Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("temperature"), "{e}");
    let e = tiny_text_model().generate_text("good", 3, 1.0, &mut strata::Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("not a next-token model"), "{e}");
}

#[test]
fn keras_text_models_load_and_predict_as_keras() {
    let fx = fixture("keras_text.json");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for case in fx["models"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = floats(&case["predictions"]["data"]);
        if let Some(file) = case["file"].as_str() {
            // A .keras file: the vocabulary (and tf-idf weights) come from its assets and weights.
            let mut model = Model::load(dir.join(file)).unwrap();
            let got = model.predict_texts(&strings(&case["probes"]), 8).unwrap();
            assert_close(&format!("{name}: predictions"), &got.to_vec(), &want, 1e-5);
            // Saved by Strata, it carries the vocabulary in its config.
            let path = temp_dir("keras_text").join(format!("{name}.safetensors"));
            model.save(&path).unwrap();
            let again = Model::load(&path).unwrap().predict_texts(&strings(&case["probes"]), 8).unwrap();
            assert_eq!(again.to_vec(), got.to_vec());
            continue;
        }
        // to_json() leaves the adapted vocabulary out: the model takes Keras's token ids, and says why it takes no text.
        let mut model = Model::from_json_str(case["json"].as_str().unwrap(), 0).unwrap();
        let mut values = std::collections::HashMap::new();
        for (path, w) in case["weights"].as_object().unwrap() {
            values.insert(path.clone(), common::tensor(w));
        }
        model.set_weights_by_name(&values).unwrap();
        let ids = common::tensor(&case["ids"]);
        let got = model.predict(Tensor::from_i32(ids.to_vec().iter().map(|&v| v as i32).collect(), ids.shape()).unwrap(), 8).unwrap();
        assert_close(&format!("{name}: predictions from ids"), &got.to_vec(), &want, 1e-5);
        let e = model.vectorize(&["the cat"]).unwrap_err().to_string();
        assert!(e.contains("words") && e.contains("no vocabulary"), "{e}");
        let e = model.predict(Tensor::from_i32(vec![40; 5], &[1, 5]).unwrap(), 8).unwrap_err().to_string();
        assert!(e.contains("token id 40 at position [0, 0]") && e.contains("30 entries"), "{e}");
    }
}
