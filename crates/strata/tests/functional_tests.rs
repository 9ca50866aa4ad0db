//! Functional models against Keras (`tools/keras_fixtures.py functional`):
//! merge layers, models with several inputs and outputs, shared layers, a
//! residual block, a nested Sequential and feature extraction, read from
//! Keras's own `to_json()`; then the functional API's errors.

#![allow(clippy::cloned_ref_to_slice_refs)] // `&[x.clone()]` reads as Keras's `[x]`

mod common;

use std::collections::HashMap;

use common::{assert_close, fixture, floats, tensor};
use serde_json::Value;
use strata::io::keras_config;
use strata::model::{Feed, Model};
use strata::prelude::*;
use strata::Rng;

const TIGHT: f32 = 1e-5;

fn named(v: &Value) -> Vec<(String, Tensor)> {
    v.as_object().unwrap().iter().map(|(k, t)| (k.clone(), tensor(t))).collect()
}

fn set_weights(model: &Model, weights: &Value) {
    let values: HashMap<String, Tensor> = named(weights).into_iter().collect();
    let mine: Vec<String> = model.named_weights().into_iter().map(|(n, _)| n).collect();
    let mut theirs: Vec<&String> = values.keys().collect();
    theirs.sort();
    let mut sorted = mine.clone();
    sorted.sort();
    assert_eq!(sorted.iter().collect::<Vec<_>>(), theirs, "weight names");
    model.set_weights_by_name(&values).unwrap();
}

#[test]
fn merge_layers_match_keras() {
    for case in fixture("keras_functional.json")["merge_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut layer = keras_config::layer_from_config(case["class_name"].as_str().unwrap(), &case["config"]).unwrap();
        let xs: Vec<Tensor> = case["xs"].as_array().unwrap().iter().map(|x| {
            let t = tensor(x);
            Tensor::variable(t.to_vec(), t.shape()).unwrap()
        }).collect();
        let shapes: Vec<Vec<usize>> = xs.iter().map(|x| x.shape()[1..].to_vec()).collect();
        let out_shape = layer.build_many(&shapes, &mut Rng::new(0)).unwrap();
        let y = layer.call_many(&xs, false).unwrap().remove(0);
        assert_eq!(out_shape[0], y.shape()[1..], "{name}: built output shape");
        assert_close(&format!("{name} output"), &y.to_vec(), &floats(&case["output"]["data"]), TIGHT);
        let grads = y.mul(&tensor(&case["r"])).unwrap().sum().backward().unwrap();
        for (i, (x, g)) in xs.iter().zip(case["grads"].as_array().unwrap()).enumerate() {
            assert_close(&format!("{name} grad {i}"), &grads.get(x).unwrap().to_vec(), &floats(&g["data"]), TIGHT);
        }
        let again = keras_config::layer_from_config(layer.class_name(), &layer.config()).unwrap();
        assert_eq!(again.config(), layer.config(), "{name}: config round trip");
    }
}

/// One epoch (no shuffling) of each model, read from Keras's JSON, gives
/// Keras's weights, logs and predictions; its config reads back.
#[test]
fn functional_models_fit_like_keras() {
    for case in fixture("keras_functional.json")["models"].as_array().unwrap() {
        check_functional_fit(case);
    }
}

/// MultiHeadAttention's values and gradients (self- and cross-attention,
/// masks, causal, scores), and models with it fitting as Keras's.
#[test]
fn attention_matches_keras() {
    let fx = fixture("keras_attention.json");
    for case in fx["cases"].as_array().unwrap() {
        let flags = &case["flags"];
        let inputs: Vec<Tensor> = case["inputs"].as_array().unwrap().iter().enumerate().map(|(i, x)| match flags["mask_input"].as_bool().unwrap() && i + 1 == case["inputs"].as_array().unwrap().len() {
            true => tensor(x),
            false => common::variable(x),
        }).collect();
        // The flags as Keras's call passes them (the tensors' presence is what counts).
        let present = |on: &serde_json::Value| if on.as_bool().unwrap() { serde_json::json!({}) } else { serde_json::Value::Null };
        let kwargs = serde_json::json!({ "key": present(&flags["key_input"]), "attention_mask": present(&flags["mask_input"]),
            "use_causal_mask": flags["use_causal_mask"], "return_attention_scores": flags["return_attention_scores"] });
        common::check_call_of(case["name"].as_str().unwrap(), "MultiHeadAttention", case, inputs, Some(&kwargs));
    }
    for case in fx["models"].as_array().unwrap() {
        check_functional_fit(case);
    }
}

/// Masks from `Embedding(mask_zero)` and `Masking` through recurrent
/// layers (padding at the end, the start and inside; go_backwards; states),
/// every Bidirectional merge mode, merges, average pooling and attention,
/// into masked losses and metrics: one epoch of each model as Keras's.
#[test]
fn masked_models_fit_like_keras() {
    for case in fixture("keras_masking.json")["models"].as_array().unwrap() {
        check_functional_fit(case);
    }
}

#[test]
fn masked_merges_normalization_and_nested_models_fit_like_keras() {
    for case in fixture("keras_masked_layers.json")["models"].as_array().unwrap() {
        check_functional_fit(case);
    }
}

fn check_functional_fit(case: &Value) {
    {
        let name = case["name"].as_str().unwrap();
        let mut model = Model::from_json_str(case["model_json"].as_str().unwrap(), 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.count_params() as u64, case["params"].as_u64().unwrap(), "{name}: parameters");
        let outputs: Vec<String> = case["output_names"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_string()).collect();
        assert_eq!(model.output_names(), outputs, "{name}: output names");
        set_weights(&model, &case["initial_weights"]);
        let (x, y) = (named(&case["x"]), named(&case["y"]));
        let options = FitOptions { epochs: 1, batch_size: case["batch_size"].as_u64().unwrap() as usize, shuffle: false, verbose: 0, ..Default::default() };
        let history = model.fit(Feed::Named(x.clone()), Feed::Named(y), options).unwrap();
        for (key, values) in case["history"].as_object().unwrap() {
            let mine = history.get(key).unwrap_or_else(|| panic!("{name}: no '{key}' in {:?}", history.history.keys()));
            let mine: Vec<f32> = mine.iter().map(|&v| v as f32).collect();
            assert_close(&format!("{name} {key}"), &mine, &floats(values), 1e-4);
        }
        let finals: HashMap<String, Tensor> = named(&case["final_weights"]).into_iter().collect();
        for (w, t) in model.named_weights() {
            assert_close(&format!("{name} {w}"), &t.to_vec(), &finals[&w].to_vec(), TIGHT);
        }
        let predictions = model.predict_many(Feed::Named(x.clone()), 64).unwrap();
        for (i, (p, k)) in predictions.iter().zip(case["predictions"].as_array().unwrap()).enumerate() {
            assert_close(&format!("{name} prediction {i}"), &p.to_vec(), &floats(&k["data"]), TIGHT);
        }
        // Validation data by name, as fit takes it: its logs equal evaluate's after the epoch.
        let y = named(&case["y"]);
        let validation = Some((Feed::Named(x.clone()), Feed::Named(y.clone())));
        let history = model.fit(Feed::Named(x.clone()), Feed::Named(y.clone()), FitOptions { verbose: 0, shuffle: false, validation_data: validation, ..Default::default() }).unwrap();
        let logs = model.evaluate(Feed::Named(x), Feed::Named(y), 64).unwrap();
        for (key, value) in &logs.0 {
            let val = history.get(&format!("val_{key}")).unwrap_or_else(|| panic!("{name}: no val_{key} in {:?}", history.history.keys()))[0];
            assert!((val - value).abs() <= 1e-5 * (1.0 + value.abs()), "{name} val_{key}: {val} vs {value}");
        }
        // What Strata writes reads back into the same model (and, with
        // STRATA_WRITE_CONFIGS=DIR, is written for tools/check_keras_reads.py).
        let json = model.to_json();
        if let Some(dir) = std::env::var_os("STRATA_WRITE_CONFIGS") {
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.json")), json.to_string()).unwrap();
        }
        let again = Model::from_json(&json, 1).unwrap_or_else(|e| panic!("{name}: {e}\n{json}"));
        assert_eq!(again.to_json(), json, "{name}: config round trip");
        assert!(model.summary_string().unwrap().contains("Connected to") || name == "nested" && model.summary_string().unwrap().contains("block (Sequential)"));
    }
}

/// A model whose outputs are another model's inner activations, defined in
/// Strata from the base model's layers, and read from Keras's own JSON of it.
#[test]
fn feature_extraction_gives_inner_activations() {
    let case = &fixture("keras_functional.json")["feature_extraction"];
    let base = Model::from_json_str(case["base_json"].as_str().unwrap(), 0).unwrap();
    set_weights(&base, &case["weights"]);
    let mut features = Model::with_seed(&base.inputs(), &[base.layer_output("f_first").unwrap(), base.layer_output("f_hidden").unwrap()], 0).unwrap();
    assert_eq!(features.count_params(), 6 * 5 + 6 + 4 * 6 + 4, "shares the base model's weights");
    let x = tensor(&case["x"]);
    for (out, k) in features.predict_many(&x, 8).unwrap().iter().zip(case["outputs"].as_array().unwrap()) {
        assert_close("feature", &out.to_vec(), &floats(&k["data"]), TIGHT);
    }
    let mut keras_features = Model::from_json_str(case["features_json"].as_str().unwrap(), 0).unwrap();
    set_weights(&keras_features, &case["weights"].as_object().unwrap().iter().filter(|(k, _)| !k.starts_with("f_out")).map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>().into());
    for (out, k) in keras_features.predict_many(&x, 8).unwrap().iter().zip(case["outputs"].as_array().unwrap()) {
        assert_close("feature from Keras's JSON", &out.to_vec(), &floats(&k["data"]), TIGHT);
    }
}

#[test]
fn shared_layers_nested_models_and_summary() {
    let (a, b) = (Input::named([4], "a"), Input::named([4], "b"));
    let shared = LayerRef::new(Dense::new(3).named("shared"));
    let sum = Add::new().apply([&shared.apply(&a).unwrap(), &shared.apply(&b).unwrap()]).unwrap();
    let mut block = Sequential::with_seed(3);
    block.add(Dense::new(5).activation(Relu)).unwrap();
    block.add(Dense::new(2)).unwrap();
    let out = block.apply(&sum).unwrap();
    let mut model = Model::with_seed(&[a, b], &[out], 0).unwrap();
    assert_eq!(model.count_params(), 4 * 3 + 3 + 3 * 5 + 5 + 5 * 2 + 2);
    let names: Vec<String> = model.named_weights().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["shared/kernel", "shared/bias", "sequential/dense/kernel", "sequential/dense/bias", "sequential/dense_1/kernel", "sequential/dense_1/bias"]);
    let summary = model.summary_string().unwrap();
    assert!(summary.contains("a[0][0], b[0][0]") && summary.contains("shared[0][0]") && summary.contains("shared[1][0]"), "{summary}");
    // The same layer called twice: one set of weights, gradients from both calls summed.
    let x = Tensor::new((0..8).map(|i| i as f32 / 8.0).collect(), &[2, 4]).unwrap();
    let y = model.call_many(&[x.clone(), x.clone()], true).unwrap().remove(0);
    let grads = y.sum().backward().unwrap();
    let kernel = model.get_layer("shared").unwrap().weights()[0].tensor.clone();
    assert!(grads.get(&kernel).is_some_and(|g| g.to_vec().iter().any(|v| *v != 0.0)));
    // Seeded: the same definition gives the same weights.
    let again = {
        let (a, b) = (Input::named([4], "a"), Input::named([4], "b"));
        let shared = LayerRef::new(Dense::new(3).named("shared"));
        let out = Dense::new(2).apply(&Add::new().apply([&shared.apply(&a).unwrap(), &shared.apply(&b).unwrap()]).unwrap()).unwrap();
        Model::with_seed(&[a, b], &[out], 0).unwrap()
    };
    assert_eq!(again.get_weights()[0].to_vec(), model.get_weights()[0].to_vec());
}

/// Graphs that cannot be a model, configs that do not describe one, and
/// arrays that do not fit one: each a clear error naming the culprit.
#[test]
fn bad_graphs_configs_and_arrays_are_named() {
    let err = |r: strata::Result<Model>| r.map(|_| ()).unwrap_err().to_string();
    let (a, b) = (Input::named([4], "a"), Input::named([3], "b"));
    let da = Dense::new(2).named("left").apply(&a).unwrap();
    let db = Dense::new(5).named("right").apply(&b).unwrap();
    let e = err(Model::with_seed(&[a.clone(), b.clone()], &[Add::new().apply([&da, &db]).unwrap()], 0));
    assert!(e.contains("'left' (2,)") && e.contains("'right' (5,)") && e.contains("add"), "{e}");
    let e = err(Model::with_seed(&[a.clone(), b.clone()], &[da.clone()], 0));
    assert!(e.contains("input 'b' is not connected to any output"), "{e}");
    let e = err(Model::with_seed(&[b.clone()], &[da.clone()], 0));
    assert!(e.contains("depend on input 'a'") && e.contains("not among"), "{e}");
    let e = err(Model::with_seed(&[a.clone()], &[Dense::new(1).named("left").apply(&da).unwrap()], 0));
    assert!(e.contains("two layers are named 'left'"), "{e}");
    let e = err(Model::with_seed(&[da.clone()], &[da.clone()], 0));
    assert!(e.contains("Input()") && e.contains("left"), "{e}");
    // Configs: an unknown inbound layer, a cycle, an unknown class.
    let config = |layers: &str| format!(r#"{{"class_name": "Functional", "config": {{"name": "m", "layers": [{{"class_name": "InputLayer", "name": "x", "config": {{"batch_shape": [null, 2], "name": "x"}}, "inbound_nodes": []}}, {layers}], "input_layers": [["x", 0, 0]], "output_layers": [["d1", 0, 0]]}}}}"#);
    let node = |from: &str| format!(r#"{{"args": [{{"class_name": "__keras_tensor__", "config": {{"keras_history": ["{from}", 0, 0]}}}}], "kwargs": {{}}}}"#);
    let dense = |name: &str, from: &str| format!(r#"{{"class_name": "Dense", "name": "{name}", "config": {{"name": "{name}", "units": 2}}, "inbound_nodes": [{}]}}"#, node(from));
    let e = err(Model::from_json_str(&config(&dense("d1", "ghost")), 0));
    assert!(e.contains("'d1' reads ghost[0][0]"), "{e}");
    let e = err(Model::from_json_str(&config(&format!("{}, {}", dense("d1", "d2"), dense("d2", "d1"))), 0));
    assert!(e.contains("d2[0][0]") && e.contains("cycle"), "{e}");
    let e = err(Model::from_json_str(&config(&format!(r#"{{"class_name": "Wobble", "name": "d1", "config": {{"name": "d1"}}, "inbound_nodes": [{}]}}"#, node("x"))), 0));
    assert!(e.contains("'Wobble' is not supported"), "{e}");
    let e = err(Model::from_json_str(&config(&format!("{}, {}", dense("d1", "x"), dense("d1", "x"))), 0));
    assert!(e.contains("two layers are named 'd1'"), "{e}");
    // Arrays: missing, extra or misnamed inputs, different lengths.
    let (a, b) = (Input::named([2], "a"), Input::named([2], "b"));
    let out = Dense::new(1).named("out").apply(&Concatenate::new().apply([&a, &b]).unwrap()).unwrap();
    let mut model = Model::with_seed(&[a, b], &[out], 0).unwrap();
    model.compile("sgd", "mse", &[]).unwrap();
    let t = |n: usize| Tensor::zeros(&[n, 2]);
    let fit = |m: &mut Model, x: Feed, y: Feed| m.fit(x, y, FitOptions { verbose: 0, ..Default::default() }).map(|_| ()).unwrap_err().to_string();
    let y = || Feed::One(Tensor::zeros(&[4, 1]));
    let e = fit(&mut model, Feed::Named(vec![("a".into(), t(4))]), y());
    assert!(e.contains("no array for 'b'"), "{e}");
    let e = fit(&mut model, Feed::Named(vec![("a".into(), t(4)), ("b".into(), t(4)), ("c".into(), t(4))]), y());
    assert!(e.contains("no inputs named 'c'"), "{e}");
    let e = fit(&mut model, Feed::List(vec![t(4), t(3)]), y());
    assert!(e.contains("4 samples") && e.contains("3"), "{e}");
    let e = fit(&mut model, Feed::One(t(4)), y());
    assert!(e.contains("2 inputs (a, b), got 1"), "{e}");
}

/// A layer of one's own: registered by class name, a model using it reads
/// back from its config; an unregistered class is named in the error. With
/// `saw_graph` it notes whether its input carries the graph back to the
/// weights before it, as a prediction's must not; with `largest_batch`, the
/// largest batch it was called with.
struct Scale {
    base: strata::layers::LayerBase,
    factor: f32,
    saw_graph: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    largest_batch: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
}

impl Layer for Scale {
    fn class_name(&self) -> &'static str {
        "Scale"
    }
    fn base(&self) -> &strata::layers::LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut strata::layers::LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> strata::Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> strata::Result<Tensor> {
        if let Some(saw) = &self.saw_graph {
            saw.store(x.requires_grad(), std::sync::atomic::Ordering::SeqCst);
        }
        if let Some(largest) = &self.largest_batch {
            largest.fetch_max(x.shape()[0], std::sync::atomic::Ordering::SeqCst);
        }
        Ok(x.scale(self.factor))
    }
    fn own_config(&self) -> Value {
        serde_json::json!({ "factor": self.factor })
    }
}

#[test]
fn registered_layers_of_ones_own_load_from_configs() {
    let scale = |factor: f32| Scale { base: strata::layers::LayerBase::new("Scale"), factor, saw_graph: None, largest_batch: None };
    let x = Input::named([3], "x");
    let model = Model::with_seed(&[x.clone()], &[Dense::new(2).apply(&scale(2.5).apply(&x).unwrap()).unwrap()], 0).unwrap();
    let json = model.to_json();
    let e = Model::from_json(&serde_json::json!({ "class_name": "Functional", "config": { "name": "m", "layers": [json["config"]["layers"][0].clone(), { "class_name": "Shrink", "name": "s", "config": { "name": "s" }, "inbound_nodes": [] }], "input_layers": ["x", 0, 0], "output_layers": ["s", 0, 0] } }), 0).unwrap_err().to_string();
    assert!(e.contains("'Shrink' is not supported") && e.contains("Dense"), "{e}");
    keras_config::register_layer("Scale", move |c| Ok(Box::new(scale(c["factor"].as_f64().unwrap_or(1.0) as f32))));
    let back = Model::from_json(&json, 0).unwrap();
    assert_eq!(back.to_json(), json);
    assert!(keras_config::supported().contains(&"Scale".to_string()));
}

/// Review findings, each pinned: merge inputs of different ranks, a zero
/// sample in a normalised `Dot`, a layer reached directly and through a
/// nested model, compiling an empty Sequential before adding layers.
#[test]
fn merges_of_ranks_zero_samples_shared_nesting_and_early_compile() {
    let (a, b) = (Input::named([2, 3], "a"), Input::named([3], "b"));
    let mut model = Model::with_seed(&[a.clone(), b.clone()], &[Add::new().apply([&a, &b]).unwrap()], 0).unwrap();
    let xa = Tensor::new((0..12).map(|i| i as f32).collect(), &[2, 2, 3]).unwrap();
    let xb = Tensor::new(vec![100.0, 200.0, 300.0, 400.0, 500.0, 600.0], &[2, 3]).unwrap();
    let sum = model.predict_many(vec![xa, xb], 2).unwrap().remove(0);
    assert_eq!(sum.to_vec(), vec![100.0, 201.0, 302.0, 103.0, 204.0, 305.0, 406.0, 507.0, 608.0, 409.0, 510.0, 611.0]);

    let mut dot = strata::layers::Dot::new(1).normalize(true);
    dot.build_many(&[vec![3], vec![3]], &mut Rng::new(0)).unwrap();
    let (u, v) = (Tensor::variable(vec![0.0, 0.0, 0.0, 1.0, 2.0, 2.0], &[2, 3]).unwrap(), Tensor::variable(vec![1.0; 6], &[2, 3]).unwrap());
    let grads = dot.call_many(&[u.clone(), v.clone()], false).unwrap().remove(0).sum().backward().unwrap();
    assert!(grads.get(&u).unwrap().all_finite() && grads.get(&v).unwrap().all_finite(), "{:?}", grads.get(&u));

    let shared = LayerRef::new(Dense::new(3).named("shared"));
    let inner_in = Input::named([3], "inner_in");
    let inner = Model::with_seed(&[inner_in.clone()], &[shared.apply(&inner_in).unwrap()], 0).unwrap();
    let x = Input::named([3], "x");
    let outer = Model::with_seed(&[x.clone()], &[Add::new().apply([&shared.apply(&x).unwrap(), &inner.apply(&x).unwrap()]).unwrap()], 0).unwrap();
    assert_eq!(outer.count_params(), 12);
    assert_eq!(outer.trainable_weights().len(), 2);

    let mut seq = Sequential::with_seed(0);
    seq.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    seq.add(Dense::new(2).activation(Softmax).input_shape([3])).unwrap();
    let history = seq.fit(Tensor::zeros(&[4, 3]), Tensor::new(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0], &[4, 2]).unwrap(), FitOptions { verbose: 0, ..Default::default() }).unwrap();
    assert!(history.get("accuracy").is_some());
}

/// An `int32` input (Keras's `Input(shape=(1,), dtype="int32")`), as a
/// conditional generator's class label: written to and read from the config,
/// and what the model is given (floats from a `.npy`, say) is cast to it.
#[test]
fn an_int32_input_round_trips_and_casts() {
    let (z, label) = (Input::named([4], "noise"), Input::typed([1], "label", strata::DType::I32));
    let embedded = Flatten::new().apply(&strata::layers::Embedding::new(3, 2).apply(&label).unwrap()).unwrap();
    let out = Dense::new(2).apply(&Concatenate::new().apply([&z, &embedded]).unwrap()).unwrap();
    let mut model = Model::with_seed(&[z, label], &[out], 3).unwrap();
    let json = model.to_json();
    let dtypes: Vec<&str> = json["config"]["layers"].as_array().unwrap().iter().filter(|l| l["class_name"] == "InputLayer").map(|l| l["config"]["dtype"].as_str().unwrap()).collect();
    assert_eq!(dtypes, ["float32", "int32"]);
    let mut back = Model::from_json(&json, 0).unwrap();
    assert_eq!(back.to_json()["config"], json["config"]);
    back.set_weights(&model.get_weights()).unwrap();
    let noise = Tensor::new((0..12).map(|i| i as f32 / 10.0).collect(), &[3, 4]).unwrap();
    let as_floats = model.predict_many(vec![noise.clone(), Tensor::new(vec![0.0, 2.0, 1.0], &[3, 1]).unwrap()], 8).unwrap();
    let as_ints = back.predict_many(vec![noise, Tensor::from_i32(vec![0, 2, 1], &[3, 1]).unwrap()], 8).unwrap();
    assert_eq!(as_floats[0].to_vec(), as_ints[0].to_vec());
}

/// `predict` runs its batches on a worker of the thread pool: the worker,
/// not only the caller, must record no graph (it did, once, for every call).
#[test]
fn predict_records_no_graph_on_the_thread_that_runs_it() {
    let saw_graph = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let x = Input::named([3], "x");
    let dense = Dense::new(2).apply(&x).unwrap();
    let probe = Scale { base: strata::layers::LayerBase::new("Scale"), factor: 1.0, saw_graph: Some(saw_graph.clone()), largest_batch: None };
    let mut model = Model::with_seed(&[x], &[probe.apply(&dense).unwrap()], 0).unwrap();
    // The probe itself sees the graph where one is recorded.
    let _ = model.call_many(&[Tensor::zeros(&[1, 3])], false).unwrap();
    assert!(saw_graph.load(std::sync::atomic::Ordering::SeqCst), "a call outside predict records the graph");
    for batch_size in [1, 4] {
        model.predict_many(Tensor::zeros(&[4, 3]), batch_size).unwrap();
        assert!(!saw_graph.load(std::sync::atomic::Ordering::SeqCst), "predict in batches of {batch_size} recorded the graph");
    }
}

/// `predict` runs a large batch of Strata's own layers in parts (for the
/// caches), with the values of the whole batch to rounding; with a layer of
/// the user's, which might look across the batch, it runs the batch whole.
#[test]
fn predict_runs_large_batches_in_parts_only_through_our_own_layers() {
    let mut rng = Rng::new(8);
    let x = Tensor::new((0..300 * 5).map(|_| rng.normal()).collect(), &[300, 5]).unwrap();
    let input = Input::named([5], "x");
    let mut ours = Model::with_seed(&[input.clone()], &[Dense::new(3).activation(Softmax).apply(&Dense::new(7).activation(Relu).apply(&input).unwrap()).unwrap()], 0).unwrap();
    let whole = {
        let _g = strata::core::no_grad();
        ours.call(&x, false).unwrap().to_vec()
    };
    for batch_size in [300, 1000, 7] {
        let parts = ours.predict(x.clone(), batch_size).unwrap();
        assert_eq!(parts.shape(), [300, 3]);
        for (p, w) in parts.to_vec().iter().zip(&whole) {
            assert!((p - w).abs() <= 1e-6, "batch {batch_size}: {p} vs {w}");
        }
    }
    let largest = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Scale { base: strata::layers::LayerBase::new("Scale"), factor: 1.0, saw_graph: None, largest_batch: Some(largest.clone()) };
    let mut theirs = Model::with_seed(&[input.clone()], &[Dense::new(3).apply(&seen.apply(&input).unwrap()).unwrap()], 0).unwrap();
    theirs.predict(x, 300).unwrap();
    assert_eq!(largest.load(std::sync::atomic::Ordering::SeqCst), 300, "a layer of the user's sees the batch as asked");
}
