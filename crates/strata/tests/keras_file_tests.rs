//! Keras 3's `.keras` files: Keras's own (made by `tools/keras_fixtures.py
//! files`) open in Strata and predict as in Keras; what Strata writes opens
//! again with the same weights (and in Keras: `tools/check_keras_reads.py`).

mod common;

use common::{assert_close, fixture, tensor};
use strata::model::Model;

const TIGHT: f32 = 1e-5;

#[test]
fn keras_files_open_predict_and_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for case in fixture("keras_files.json")["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut model = Model::load(dir.join(case["file"].as_str().unwrap())).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.count_params() as u64, case["params"].as_u64().unwrap(), "{name}: parameters");
        assert!(model.optimizer().is_some(), "{name}: compiled from its compile_config");
        let x = tensor(&case["x"]);
        let p = model.predict(&x, 8).unwrap();
        assert_close(&format!("{name} predictions"), &p.to_vec(), &tensor(&case["predictions"]).to_vec(), TIGHT);
        // Strata's own .keras of it opens again, the same.
        let out = std::env::var_os("STRATA_WRITE_KERAS").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir).join(format!("strata-{name}-{}.keras", std::process::id()));
        model.save(&out).unwrap();
        let mut again = Model::load(&out).unwrap();
        assert_eq!(again.predict(&x, 8).unwrap().to_vec(), p.to_vec(), "{name}: round trip");
        if std::env::var_os("STRATA_WRITE_KERAS").is_none() {
            std::fs::remove_file(&out).unwrap();
        }
    }
}

#[test]
fn broken_keras_files_are_named() {
    let dir = common::temp_dir("broken-keras");
    let good = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_nested.keras")).unwrap();
    for (name, bytes, expected) in [
        ("truncated.keras", good[..good.len() / 2].to_vec(), "not a valid .keras"),
        ("zip-of-nothing.keras", b"PK\x03\x04garbage".to_vec(), "not a valid .keras"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = Model::load(&path).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(expected), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Keras's own `.keras` file of a model with every augmentation and
/// preprocessing layer, transposed convolutions and an adapted
/// Normalization (its `count` weight an int64): it opens and predicts as
/// Keras does, and Strata's `.keras` of it opens again the same.
#[test]
fn a_keras_file_with_augmentation_layers_opens_and_predicts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut model = Model::load(dir.join("keras_vision_model.keras")).unwrap();
    let x = strata::io::npy::read(&dir.join("vision_model_x.npy")).unwrap();
    let p = model.predict(&x, 8).unwrap();
    assert_close("augmented model predictions", &p.to_vec(), &tensor(&fixture("keras_vision_model.json")["predictions"]).to_vec(), TIGHT);
    let out = common::temp_file("keras-file", "vision.keras");
    model.save(&out).unwrap();
    assert_eq!(Model::load(&out).unwrap().predict(&x, 8).unwrap().to_vec(), p.to_vec());
    std::fs::remove_file(&out).unwrap();
}
