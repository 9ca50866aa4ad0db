//! `strata generate`, `strata evaluate --text` and `strata predict` on .txt
//! files, with models whose vocabulary travels in their file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use strata::layers::preprocessing::{Split, Standardize};
use strata::layers::{Embedding, GlobalAveragePooling1D, TextVectorization, LSTM};
use strata::prelude::*;

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("the strata binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const CORPUS: &str = "to be or not to be, that is the question.\nto be or not to be.\n";

/// A character model trained a little on CORPUS, saved.
fn language_model(dir: &Path) -> PathBuf {
    let mut v = TextVectorization::new().standardize(Standardize::None).split(Split::Character).output_sequence_length(8);
    v.adapt_texts(&[CORPUS]).unwrap();
    let size = v.vocabulary_size();
    let ids = v.ids(CORPUS);
    let mut model = Sequential::with_seed(1);
    model.add(v.input_shape([8])).unwrap();
    model.add(Embedding::new(size, 8)).unwrap();
    model.add(LSTM::new(16).return_sequences(true)).unwrap();
    model.add(Dense::new(size)).unwrap();
    model.compile(Adam::new(0.02).unwrap(), strata::losses::SparseCategoricalCrossentropy::new(true), &[]).unwrap();
    let starts: Vec<usize> = (0..ids.len() - 9).collect();
    let x: Vec<i32> = starts.iter().flat_map(|&s| ids[s..s + 8].iter().map(|&i| i as i32)).collect();
    let y: Vec<i32> = starts.iter().flat_map(|&s| ids[s + 1..s + 9].iter().map(|&i| i as i32)).collect();
    let (x, y) = (Tensor::from_i32(x, &[starts.len(), 8]).unwrap(), Tensor::from_i32(y, &[starts.len(), 8]).unwrap());
    model.fit(&x, &y, FitOptions { epochs: 20, batch_size: 16, verbose: 0, ..Default::default() }).unwrap();
    let path = dir.join("lm.safetensors");
    model.save(&path).unwrap();
    path
}

#[test]
fn generate_and_evaluate_a_saved_character_model() {
    let dir = common::scratch("cli-text-lm");
    let m = language_model(&dir);
    let run = |seed: &str| strata(&["generate", "--model", s(&m), "--prompt", "to be", "--length", "40", "--temperature", "0.5", "--seed", seed]);
    let (a, b) = (run("3"), run("3"));
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout, "the same seed gives the same text");
    let sample = text(&a.stdout);
    assert!(sample.starts_with("to be") && sample.trim_end_matches('\n').chars().count() >= 45, "{sample:?}");
    assert!(sample.chars().all(|c| CORPUS.contains(c)), "only characters of the vocabulary: {sample:?}");

    let file = dir.join("held.txt");
    std::fs::write(&file, "to be or not to be, that is the question.").unwrap();
    let out = strata(&["evaluate", "--model", s(&m), "--text", s(&file), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let want = Model::load(&m).unwrap().text_loss("to be or not to be, that is the question.", 1000).unwrap();
    assert_eq!(v["tokens"], 40, "41 characters, each after the first predicted once");
    assert!((v["loss"].as_f64().unwrap() - want.loss).abs() < 1e-9, "{v} vs {want:?}");
    assert!(want.loss < 2.0, "trained on this very text, the model predicts it well: {want:?}");

    // Errors name the file or flag at fault.
    let latin1 = dir.join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    for (args, expected) in [
        (vec!["evaluate", "--model", s(&m), "--text", s(&latin1)], "not UTF-8 text: byte 0xe9 at offset 3"),
        (vec!["evaluate", "--model", s(&m), "--text", s(&empty)], "empty.txt: is empty"),
        (vec!["generate", "--model", s(&m), "--temperature", "0"], "--temperature"),
        (vec!["generate", "--model", s(&file)], "held.txt"),
    ] {
        let out = strata(&args);
        assert!(!out.status.success() && text(&out.stderr).contains(expected), "{args:?}: {}", text(&out.stderr));
    }
    let mut plain = Sequential::with_seed(0);
    plain.add(Dense::new(2).input_shape([3])).unwrap();
    plain.build_from_declared().unwrap();
    let p = dir.join("plain.safetensors");
    plain.save(&p).unwrap();
    let out = strata(&["generate", "--model", s(&p), "--prompt", "x"]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("plain.safetensors") && err.contains("does not start with a TextVectorization"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn predict_classifies_text_files() {
    let dir = common::scratch("cli-text-classify");
    let texts = ["great fun great", "awful bad", "fun great", "bad awful awful", "great", "bad"];
    let mut v = TextVectorization::new().output_sequence_length(4);
    v.adapt_texts(&texts).unwrap();
    let size = v.vocabulary_size();
    let mut model = Sequential::with_seed(2);
    model.add(v.input_shape([4])).unwrap();
    model.add(Embedding::new(size, 4)).unwrap();
    model.add(GlobalAveragePooling1D::new()).unwrap();
    model.add(Dense::new(2).activation(Softmax)).unwrap();
    model.compile(Adam::new(0.05).unwrap(), strata::losses::SparseCategoricalCrossentropy::new(false), &["accuracy"]).unwrap();
    let x = model.vectorize(&texts).unwrap();
    let y = Tensor::from_i32(vec![1, 0, 1, 0, 1, 0], &[6]).unwrap();
    model.fit(&x, &y, FitOptions { epochs: 60, batch_size: 6, verbose: 0, ..Default::default() }).unwrap();
    let m = dir.join("clf.safetensors");
    model.save(&m).unwrap();
    let (good, bad) = (dir.join("good.txt"), dir.join("bad.txt"));
    std::fs::write(&good, "What great fun!").unwrap();
    std::fs::write(&bad, "Awful, just BAD.").unwrap();
    let out = strata(&["predict", "--model", s(&m), "--class-names", "negative,positive", "--json", s(&good), s(&bad)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v[0]["label"], "positive", "{v}");
    assert_eq!(v[1]["label"], "negative", "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_measures_the_recurrent_models() {
    let out = strata(&["bench", "--model", "lstm", "--steps", "5", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    let m = &v["models"][0];
    assert_eq!(m["model"], "lstm");
    // Per window of 100 ids: the LSTM's two products per step (64 + 256 inputs, 4 x 256 gates) and the Dense(85) per step.
    let forward = 2.0 * 100.0 * ((64 + 256) * 1024) as f64 + 2.0 * 100.0 * (256 * 85) as f64;
    assert!((m["forward_mflop_per_sample"].as_f64().unwrap() - forward / 1e6).abs() < 1e-3, "{m}");
    // The Embedding before the LSTM needs its input gradient: a training step is three times the forward products.
    assert!((m["train_mflop_per_sample"].as_f64().unwrap() - 3.0 * forward / 1e6).abs() < 1e-3, "{m}");
    assert!(m["train_characters_per_second"].as_f64().unwrap() > 0.0, "{m}");
    assert!(m["profile"].to_string().contains("lstm"), "{m}");
}
