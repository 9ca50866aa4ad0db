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

/// A fresh, empty folder under the system temp folder, unique to this test process.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
