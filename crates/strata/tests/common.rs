//! Helpers shared by the integration tests: reading the Keras fixtures and
//! comparing arrays with a tolerance.

#![allow(dead_code)]

use serde_json::Value;
use strata::Tensor;

/// Loads `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A `{"shape": [...], "data": [...]}` fixture array as a tensor.
pub fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    Tensor::new(floats(&v["data"]), &shape).unwrap()
}

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

use std::sync::Mutex;

/// The largest relative difference any comparison has seen (printed with --nocapture).
pub static WORST: Mutex<(f32, String)> = Mutex::new((0.0, String::new()));

/// Largest difference relative to max(|expected|, 1); panics above `tol`.
pub fn assert_close(what: &str, actual: &[f32], expected: &[f32], tol: f32) -> f32 {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let mut worst = 0.0f32;
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let rel = (a - e).abs() / e.abs().max(1.0);
        assert!(rel <= tol, "{what}: element {i}: strata {a} vs keras {e} (relative difference {rel:e} > {tol:e})");
        worst = worst.max(rel);
    }
    let mut w = WORST.lock().unwrap();
    if worst > w.0 {
        *w = (worst, what.to_string());
    }
    eprintln!("{what}: largest relative difference {worst:.2e}");
    worst
}

/// An emptied folder `strata-test-{name}` under Cargo's `target/tmp`: one
/// copy at most, and nothing an earlier run left (a stale checkpoint) is read.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("strata-test-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path for file `name` in an emptied folder of its own under `group`
/// ([`temp_dir`]'s, named without a template's braces: `every-{epoch}.x`).
pub fn temp_file(group: &str, name: &str) -> std::path::PathBuf {
    temp_dir(&format!("{group}/{}", name.replace(['{', '}'], ""))).join(name)
}

/// A fixture's array as a variable (its gradient is tracked).
pub fn variable(v: &serde_json::Value) -> Tensor {
    let t = tensor(v);
    Tensor::variable(t.to_vec(), t.shape()).unwrap()
}

/// A layer of `class` from `case["config"]` built for `inputs`, given Keras's
/// weights (checked against their variable paths): its outputs, and the
/// gradients of sum(output_i * r_i) for the inputs and then the weights.
pub fn check_outputs_and_gradients(what: &str, class: &str, case: &serde_json::Value, inputs: Vec<Tensor>) {
    check_call_of(what, class, case, inputs, None)
}

/// [`check_outputs_and_gradients`] for a layer called with Keras keyword
/// arguments `kwargs` (as an inbound node of a model's JSON has them); the
/// gradients are of the inputs that are variables, then the weights.
pub fn check_call_of(what: &str, class: &str, case: &serde_json::Value, inputs: Vec<Tensor>, kwargs: Option<&serde_json::Value>) {
    let mut layer = strata::io::keras_config::layer_from_config(class, &case["config"]).unwrap();
    if let Some(kwargs) = kwargs {
        layer.call_kwargs(kwargs).unwrap();
    }
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape()[1..].to_vec()).collect();
    layer.build_many(&shapes, &mut strata::Rng::new(0)).unwrap();
    let weights = layer.weights();
    assert_eq!(weights.len(), case["weights"].as_array().unwrap().len(), "{what}: weight count");
    for ((w, k), path) in weights.iter().zip(case["weights"].as_array().unwrap()).zip(case["weight_paths"].as_array().unwrap()) {
        // Keras 3's variable paths: `lstm/lstm_cell/kernel`, `bidirectional/forward_lstm/lstm_cell/kernel`.
        assert!(path.as_str().unwrap().ends_with(&format!("/{}", w.name)), "{what}: {} against {path}", w.name);
        w.tensor.data_mut().copy_from_slice(&tensor(k).data());
    }
    let outs = layer.call_many(&inputs, false).unwrap();
    assert_eq!(outs.len(), case["outputs"].as_array().unwrap().len(), "{what}: number of outputs");
    assert_eq!(outs.len(), layer.num_outputs(), "{what}: num_outputs");
    let mut objective = Tensor::scalar(0.0);
    for (i, (out, (want, r))) in outs.iter().zip(case["outputs"].as_array().unwrap().iter().zip(case["r"].as_array().unwrap())).enumerate() {
        assert_eq!(out.shape(), tensor(want).shape(), "{what}: output {i} shape");
        assert_close(&format!("{what}: output {i}"), &out.to_vec(), &floats(&want["data"]), 1e-5);
        objective = objective.add(&out.mul(&tensor(r)).unwrap().sum()).unwrap();
    }
    let grads = objective.backward().unwrap();
    let wanted: Vec<Tensor> = inputs.into_iter().filter(|t| t.requires_grad()).chain(weights.iter().map(|w| w.tensor.clone())).collect();
    for (i, (t, want)) in wanted.iter().zip(case["grads"].as_array().unwrap()).enumerate() {
        assert_close(&format!("{what}: gradient {i}"), &grads.get(t).unwrap().to_vec(), &floats(&want["data"]), 1e-5);
    }
}
