//! Saving, loading and resuming: one-file models, bit-identical resume,
//! Keras configs, and clear errors for bad files.

mod common;

use std::path::PathBuf;

use strata::data::mnist::one_hot;
use strata::prelude::*;
use strata::Rng;

fn temp(name: &str) -> PathBuf {
    common::temp_file("serialize", name)
}

fn model(seed: u64) -> Sequential {
    let mut m = Sequential::with_seed(seed);
    m.add(Conv2D::new(4, (3, 3)).activation(Relu).input_shape([8, 8, 1])).unwrap();
    m.add(MaxPooling2D::new(2)).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

fn data() -> (Tensor, Tensor) {
    let mut r = Rng::new(11);
    let x = Tensor::new((0..48 * 64).map(|_| r.uniform()).collect(), &[48, 8, 8, 1]).unwrap();
    let labels: Vec<usize> = (0..48).map(|_| r.below(3)).collect();
    (x, one_hot(&labels, 3).unwrap())
}

fn weights(m: &Sequential) -> Vec<(String, Vec<f32>)> {
    m.named_weights().into_iter().map(|(n, t)| (n, t.to_vec())).collect()
}

fn fit(m: &mut Sequential, x: &Tensor, y: &Tensor, epochs: usize) {
    let initial_epoch = m.epochs_trained();
    m.fit(x, y, FitOptions { epochs, batch_size: 8, verbose: 0, initial_epoch, ..Default::default() }).unwrap();
}

#[test]
fn save_and_load_round_trip() {
    let (x, y) = data();
    let mut m = model(1);
    fit(&mut m, &x, &y, 1);
    let path = temp("roundtrip.safetensors");
    m.save(&path).unwrap();
    let mut back = Sequential::load(&path).unwrap();
    assert_eq!(weights(&back), weights(&m));
    assert_eq!(back.to_json()["config"], m.to_json()["config"]);
    assert_eq!(back.predict(&x, 16).unwrap().to_vec(), m.predict(&x, 16).unwrap().to_vec());
    assert_eq!(back.epochs_trained(), 1);
    assert_eq!(back.history().get("loss").unwrap(), m.history().get("loss").unwrap());
    // The file is plain safetensors with Keras's variable names.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    assert!(names.contains(&"conv2d/kernel".to_string()) && names.contains(&"dense/bias".to_string()), "{names:?}");
    assert_eq!(st.tensor("conv2d/kernel").unwrap().shape(), &[3, 3, 1, 4]);
    assert!(names.contains(&"optimizer/conv2d/kernel/m".to_string()));
}

#[test]
fn resuming_gives_bit_identical_weights() {
    let (x, y) = data();
    let mut straight = model(2);
    fit(&mut straight, &x, &y, 4);

    let mut first = model(2);
    fit(&mut first, &x, &y, 2);
    let path = temp("resume.safetensors");
    first.save(&path).unwrap();
    drop(first);
    let mut resumed = Sequential::load(&path).unwrap();
    assert_eq!(resumed.epochs_trained(), 2);
    fit(&mut resumed, &x, &y, 4);
    assert_eq!(weights(&resumed), weights(&straight));
    assert_eq!(resumed.history().get("loss").unwrap(), straight.history().get("loss").unwrap());
    assert_eq!(resumed.optimizer().unwrap().iterations(), straight.optimizer().unwrap().iterations());
}

#[test]
fn model_checkpoint_saves_every_epoch_and_the_best() {
    let (x, y) = data();
    let mut m = model(3);
    let every = temp("every-{epoch}.safetensors");
    let best = temp("best.safetensors");
    let callbacks: Vec<Box<dyn Callback>> = vec![
        Box::new(ModelCheckpoint::new(&every)),
        Box::new(ModelCheckpoint::new(&best).save_best_only("val_loss")),
    ];
    m.fit(&x, &y, FitOptions { epochs: 3, batch_size: 8, verbose: 0, validation_split: 0.25, callbacks, ..Default::default() }).unwrap();
    for e in 1..=3 {
        let p = every.to_string_lossy().replace("{epoch}", &e.to_string());
        assert_eq!(Sequential::load(&p).unwrap().epochs_trained(), e);
    }
    let val = m.history().get("val_loss").unwrap().to_vec();
    let best_epoch = (0..3).min_by(|&a, &b| val[a].total_cmp(&val[b])).unwrap() + 1;
    assert_eq!(Sequential::load(&best).unwrap().epochs_trained(), best_epoch);
}

#[test]
fn bad_model_files_are_refused_with_the_reason() {
    let (x, y) = data();
    let mut m = model(4);
    fit(&mut m, &x, &y, 1);
    let path = temp("good.safetensors");
    m.save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let err = |bytes: &[u8], name: &str| {
        let p = temp(name);
        std::fs::write(&p, bytes).unwrap();
        Sequential::load(&p).unwrap_err().to_string()
    };
    let e = err(&good[..good.len() - 10], "truncated.safetensors");
    assert!(e.contains("truncated.safetensors") && e.contains("not a valid safetensors"), "{e}");
    let e = err(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops", "garbage.safetensors");
    assert!(e.contains("garbage.safetensors"), "{e}");
    let e = err(&[0xff; 8], "huge-header.safetensors");
    assert!(e.contains("huge-header.safetensors"), "{e}");
    let e = Sequential::load(temp("absent.safetensors")).unwrap_err().to_string();
    assert!(e.contains("absent.safetensors"), "{e}");

    // A newer format version, an unknown layer, a weight of the wrong shape.
    let rewrite = |edit: &dyn Fn(&mut hashbrown::HashMap<String, String>), shape_of_kernel: Vec<usize>, name: &str| {
        let st = safetensors::SafeTensors::deserialize(&good).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&good).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        edit(&mut meta);
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| {
                let shape = if n == "dense/kernel" { shape_of_kernel.clone() } else { v.shape().to_vec() };
                let len: usize = shape.iter().product();
                (n, shape, vec![0u8; len * 4])
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> =
            data.iter().map(|(n, s, d)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap())).collect();
        let bytes = safetensors::tensor::serialize(views, Some(meta)).unwrap();
        err(&bytes, name)
    };
    let e = rewrite(&|m| { m.insert("format_version".into(), "99".into()); }, vec![36, 3], "newer.safetensors");
    assert!(e.contains("newer.safetensors") && e.contains("format 99") && e.contains("upgrade"), "{e}");
    let e = rewrite(&|m| {
        let c = m["model_config"].replace("\"MaxPooling2D\"", "\"FancyPooling\"");
        m.insert("model_config".into(), c);
    }, vec![36, 3], "unknown-layer.safetensors");
    assert!(e.contains("FancyPooling") && e.contains("not supported"), "{e}");
    let e = rewrite(&|_| {}, vec![35, 3], "wrong-shape.safetensors");
    assert!(e.contains("dense/kernel") && e.contains("(35, 3)") && e.contains("(36, 3)"), "{e}");
}

#[test]
fn a_keras_model_runs_in_strata() {
    // tools/keras_fixtures.py: model.to_json() and the weights of Keras's
    // headline CNN, and Keras's predictions for four inputs.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("keras_headline.json")).unwrap()).unwrap();
    let json: serde_json::Value = serde_json::from_str(fx["model_json"].as_str().unwrap()).unwrap();
    let mut model = Sequential::from_json(&json, 0).unwrap();
    assert_eq!(model.count_params() as u64, fx["params"].as_u64().unwrap());
    assert_eq!(model.optimizer().unwrap().name(), "adam");
    model.load_weights(dir.join("keras_headline.safetensors")).unwrap();
    let x = &fx["x"];
    let shape: Vec<usize> = x["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let floats = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|f| f.as_f64().unwrap() as f32).collect::<Vec<_>>();
    let p = model.predict(Tensor::new(floats(&x["data"]), &shape).unwrap(), 4).unwrap();
    for (a, b) in p.to_vec().iter().zip(floats(&fx["predictions"]["data"])) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "strata {a} vs keras {b}");
    }
    // Strata writes the same structure back.
    let back = model.to_json();
    assert_eq!(back["config"]["layers"].as_array().unwrap().len(), json["config"]["layers"].as_array().unwrap().len());
    assert_eq!(back["compile_config"]["loss"], "categorical_crossentropy");
}

#[test]
fn resuming_is_bit_identical_for_every_optimizer() {
    let (x, y) = data();
    for name in ["sgd", "rmsprop", "adagrad", "adadelta", "adamax", "nadam"] {
        let build = || {
            let mut m = model(7);
            m.compile(name, "categorical_crossentropy", &["accuracy"]).unwrap();
            m
        };
        let mut straight = build();
        fit(&mut straight, &x, &y, 3);
        let mut first = build();
        fit(&mut first, &x, &y, 1);
        let path = temp(&format!("resume-{name}.safetensors"));
        first.save(&path).unwrap();
        let mut resumed = Sequential::load(&path).unwrap();
        assert_eq!(resumed.optimizer().unwrap().name(), name);
        fit(&mut resumed, &x, &y, 3);
        assert_eq!(weights(&resumed), weights(&straight), "{name}");
    }
}

#[test]
fn clipped_and_decoupled_optimizers_round_trip() {
    let (x, y) = data();
    let mut m = model(8);
    let opt = strata::optimizers::with_clipping(Box::new(Adam::adamw(0.01, 0.004).unwrap().amsgrad(true)), strata::optimizers::Clip::Norm(0.5)).unwrap();
    m.compile(opt, "categorical_crossentropy", &["accuracy"]).unwrap();
    fit(&mut m, &x, &y, 1);
    let path = temp("clipped.safetensors");
    m.save(&path).unwrap();
    let back = Sequential::load(&path).unwrap();
    let cfg = back.optimizer().unwrap().config();
    assert_eq!((back.optimizer().unwrap().name(), cfg["clipnorm"].as_f64(), cfg["amsgrad"].as_bool()), ("adamw", Some(0.5), Some(true)));
    assert_eq!(back.optimizer().unwrap().slots(&back.named_weights()[0].1).len(), 3, "m, v and v_hat restored");
}

#[test]
fn scheduled_and_decayed_optimizers_resume_bit_identically() {
    use strata::optimizers::{from_config, Schedule};
    let (x, y) = data();
    let config = serde_json::json!({
        "class_name": "SGD",
        "config": {
            "momentum": 0.9, "weight_decay": 0.01, "clipvalue": 0.5,
            "learning_rate": Schedule::CosineDecayRestarts { initial_learning_rate: 0.05, first_decay_steps: 3.0, t_mul: 2.0, m_mul: 0.9, alpha: 0.0 }.config(),
        }
    });
    let build = || {
        let mut m = model(9);
        m.compile(from_config(&config).unwrap(), "categorical_crossentropy", &["accuracy"]).unwrap();
        m
    };
    let mut straight = build();
    fit(&mut straight, &x, &y, 3);
    let mut first = build();
    fit(&mut first, &x, &y, 1);
    let path = temp("scheduled.safetensors");
    first.save(&path).unwrap();
    let mut resumed = Sequential::load(&path).unwrap();
    let cfg = resumed.optimizer().unwrap().config();
    assert_eq!(cfg["learning_rate"]["class_name"], "CosineDecayRestarts");
    assert_eq!((cfg["weight_decay"].as_f64(), cfg["clipvalue"].as_f64()), (Some(0.01f32 as f64), Some(0.5)));
    fit(&mut resumed, &x, &y, 3);
    assert_eq!(weights(&resumed), weights(&straight));
}

/// Every random stream the model owns is in the checkpoint: with Dropout,
/// 2 epochs + save + load + 2 epochs equal 4 straight, bit for bit.
#[test]
fn resuming_a_model_with_dropout_is_bit_identical() {
    let (x, y) = data();
    let make = || {
        let mut m = Sequential::with_seed(5);
        m.add(Flatten::new().input_shape([8, 8, 1])).unwrap();
        m.add(Dense::new(16).activation(Relu)).unwrap();
        m.add(strata::layers::Dropout::new(0.5)).unwrap();
        m.add(Dense::new(3).activation(Softmax)).unwrap();
        m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
        m
    };
    let mut straight = make();
    fit(&mut straight, &x, &y, 4);
    let mut first = make();
    fit(&mut first, &x, &y, 2);
    let path = temp("resume-dropout.safetensors");
    first.save(&path).unwrap();
    let mut resumed = Sequential::load(&path).unwrap();
    assert_eq!(resumed.random_streams(), first.random_streams());
    fit(&mut resumed, &x, &y, 4);
    assert_eq!(weights(&resumed), weights(&straight));
}
