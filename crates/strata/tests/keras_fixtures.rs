//! Layers, activations, losses, optimizers and a short `fit` against values
//! computed with Keras 3 (TensorFlow backend) by `tools/keras_fixtures.py`.
//!
//! Tolerance: 1e-5 relative to max(|keras value|, 1) for every value. The
//! largest difference seen is about 1e-6 (float32 sums added in another order
//! than TensorFlow's); `cargo test -- --nocapture` prints each one.

mod common;

use common::{assert_close, check_outputs_and_gradients, fixture, floats, tensor, variable};
use strata::activations::Activation;
use strata::io::keras_config;
use strata::losses::{self, Loss};
use strata::optimizers::{Adam, Clip, Optimizer, SGD};
use strata::prelude::*;
use strata::Rng;

const TIGHT: f32 = 1e-5;

/// Every layer case goes through one harness: built from Keras's own
/// `get_config()`; output shape against `compute_output_shape`; parameter
/// count; output, input and weight gradients against Keras; the gradient
/// against a finite difference; and its config written and read back.
fn check_layer_case(case: &serde_json::Value) {
    check_layer_case_within(case, TIGHT);
}

/// [`check_layer_case`] with values and gradients compared within `tol`.
fn check_layer_case_within(case: &serde_json::Value, tol: f32) {
    let name = case["name"].as_str().unwrap();
    let class = case["class_name"].as_str().unwrap();
    let x = tensor(&case["x"]);
    let x = Tensor::variable(x.to_vec(), x.shape()).unwrap();
    let mut layer = keras_config::layer_from_config(class, &case["config"]).unwrap();
    let out_shape = layer.build(&x.shape()[1..], &mut Rng::new(0)).unwrap();
    let keras_shape: Vec<usize> = case["output_shape"].as_array().unwrap()[1..].iter().map(|d| d.as_u64().unwrap() as usize).collect();
    assert_eq!(out_shape, keras_shape, "{name}: output shape");
    let weights = layer.weights();
    let keras_weights = case["weights"].as_array().unwrap();
    assert_eq!(weights.len(), keras_weights.len(), "{name}: weight count");
    if let Some(params) = case["params"].as_u64() {
        assert_eq!(weights.iter().map(|w| w.tensor.numel()).sum::<usize>() as u64, params, "{name}: parameter count");
    }
    for (w, k) in weights.iter().zip(keras_weights) {
        let k = tensor(k);
        assert_eq!(w.tensor.shape(), k.shape(), "{name}: {} shape", w.name);
        w.tensor.data_mut().copy_from_slice(&k.data());
    }
    let training = case["training"].as_bool().unwrap();
    let y = layer.call(&x, training).unwrap();
    assert_close(&format!("{name} output"), &y.to_vec(), &floats(&case["output"]["data"]), tol);
    for (w, k) in weights.iter().zip(case["weights_after"].as_array().unwrap()) {
        assert_close(&format!("{name} {} after the call", w.name), &w.tensor.to_vec(), &floats(&k["data"]), tol);
    }
    let r = tensor(&case["r"]);
    let grads = y.mul(&r).unwrap().sum().backward().unwrap();
    let grad_x = grads.get(&x).unwrap().to_vec();
    assert_close(&format!("{name} grad x"), &grad_x, &floats(&case["grad_x"]["data"]), tol);
    let trainable: Vec<_> = weights.iter().filter(|w| w.trainable).collect();
    for (w, k) in trainable.iter().zip(case["grad_weights"].as_array().unwrap()) {
        assert_close(&format!("{name} grad {}", w.name), &grads.get(&w.tensor).unwrap().to_vec(), &floats(&k["data"]), tol);
    }
    // Finite difference along the gradient direction (inference mode: no moving-statistics update).
    if !training {
        let objective = |v: &[f32]| -> f64 {
            let _g = strata::no_grad();
            let out = layer.call(&Tensor::new(v.to_vec(), x.shape()).unwrap(), false).unwrap();
            out.to_vec().iter().zip(r.to_vec()).map(|(a, b)| (*a as f64) * (b as f64)).sum()
        };
        let norm = grad_x.iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
        let eps = 1e-3;
        let (plus, minus): (Vec<f32>, Vec<f32>) = x.to_vec().iter().zip(&grad_x).map(|(v, g)| (v + (eps * *g as f64 / norm) as f32, v - (eps * *g as f64 / norm) as f32)).unzip();
        let numeric = (objective(&plus) - objective(&minus)) / (2.0 * eps);
        assert!((numeric - norm).abs() <= 1e-2 * norm.max(1.0), "{name}: directional derivative {numeric} vs |grad| {norm}");
    }
    // The config Strata writes reads back into the same layer.
    let config = layer.config();
    let again = keras_config::layer_from_config(layer.class_name(), &config).unwrap();
    assert_eq!(again.config(), config, "{name}: config round trip");
}

#[test]
fn layers_forward_and_gradients_match_keras() {
    for file in ["keras_layers.json", "keras_layers_extra.json"] {
        for case in fixture(file)["cases"].as_array().unwrap() {
            check_layer_case(case);
        }
    }
}

#[test]
fn activations_match_keras() {
    let fx = fixture("keras_activations.json");
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let x = tensor(&case["x"]);
        let x = Tensor::variable(x.to_vec(), x.shape()).unwrap();
        let y = Activation::from_name(name).unwrap().apply(&x).unwrap();
        assert_close(&format!("{name} value"), &y.to_vec(), &floats(&case["output"]["data"]), TIGHT);
        let grads = y.mul(&tensor(&case["r"])).unwrap().sum().backward().unwrap();
        assert_close(&format!("{name} gradient"), &grads.get(&x).unwrap().to_vec(), &floats(&case["grad_x"]["data"]), TIGHT);
    }
}

fn loss_by_name(name: &str, from_logits: bool) -> Box<dyn Loss> {
    let base = name.trim_end_matches("_from_logits").trim_end_matches("_soft_targets").trim_end_matches("_unnormalised");
    match (base, from_logits) {
        ("categorical_crossentropy", true) => Box::new(CategoricalCrossentropy::new(true)),
        ("sparse_categorical_crossentropy", true) => Box::new(SparseCategoricalCrossentropy::new(true)),
        ("binary_crossentropy", true) => Box::new(strata::losses::BinaryCrossentropy::new(true)),
        (other, _) => losses::from_name(other).unwrap(),
    }
}

#[test]
fn losses_match_keras() {
    let fx = fixture("keras_losses.json");
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let y_true = tensor(&case["y_true"]);
        let (pred_key, grad_key) = if case.get("logits").is_some() { ("logits", "grad_logits") } else { ("y_pred", "grad_y_pred") };
        let input = tensor(&case[pred_key]);
        let input = Tensor::variable(input.to_vec(), input.shape()).unwrap();
        let (loss, y_pred) = if pred_key == "logits" {
            (losses::from_name("categorical_crossentropy").unwrap(), input.softmax(-1).unwrap())
        } else {
            (loss_by_name(name, case["from_logits"].as_bool().unwrap()), input.clone())
        };
        let value = loss.call(&y_true, &y_pred).unwrap();
        assert_close(&format!("{name} value"), &[value.item().unwrap()], &[case["loss"].as_f64().unwrap() as f32], TIGHT);
        let grads = value.backward().unwrap();
        assert_close(&format!("{name} gradient"), &grads.get(&input).unwrap().to_vec(), &floats(&case[grad_key]["data"]), TIGHT);
    }
}

fn clipped(o: Box<dyn Optimizer>, c: Clip) -> Box<dyn Optimizer> {
    strata::optimizers::with_clipping(o, c).unwrap()
}

fn optimizer_by_name(name: &str) -> Box<dyn Optimizer> {
    match name {
        "sgd_default" => Box::new(SGD::default()),
        "sgd_lr0.1" => Box::new(SGD::new(0.1).unwrap()),
        "sgd_momentum" => Box::new(SGD::new(0.05).unwrap().momentum(0.9, false).unwrap()),
        "sgd_nesterov" => Box::new(SGD::new(0.05).unwrap().momentum(0.9, true).unwrap()),
        "adam_default" => Box::new(Adam::default()),
        "adam_custom" => Box::new(Adam::new(0.01).unwrap().betas(0.8, 0.99).unwrap().epsilon(1e-5).unwrap()),
        "rmsprop_default" => Box::new(strata::optimizers::RMSprop::default()),
        "rmsprop_centered_momentum" => Box::new(strata::optimizers::RMSprop::new(0.01).unwrap().options(0.8, 0.5, true).unwrap()),
        "adagrad_default" => Box::new(strata::optimizers::Adagrad::new(0.1).unwrap()),
        "adadelta_default" => Box::new(strata::optimizers::Adadelta::new(1.0).unwrap()),
        "adamax_default" => Box::new(strata::optimizers::Adamax::new(0.01).unwrap()),
        "nadam_default" => Box::new(strata::optimizers::Nadam::new(0.01).unwrap()),
        "adam_amsgrad" => Box::new(Adam::new(0.01).unwrap().amsgrad(true)),
        "adamw_default" => Box::new(Adam::adamw(0.01, 0.004).unwrap()),
        "adam_clipnorm" => clipped(Box::new(Adam::new(0.01).unwrap()), Clip::Norm(0.5)),
        "adam_global_clipnorm" => clipped(Box::new(Adam::new(0.01).unwrap()), Clip::GlobalNorm(0.5)),
        "sgd_clipvalue" => clipped(Box::new(SGD::new(0.1).unwrap()), Clip::Value(0.3)),
        other => panic!("no optimizer for fixture {other}"),
    }
}

#[test]
fn optimizer_steps_match_keras() {
    let fx = fixture("keras_optimizers.json");
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let w0 = tensor(&case["initial"]);
        let w = Tensor::variable(w0.to_vec(), w0.shape()).unwrap();
        let mut opt = optimizer_by_name(name);
        for (i, (g, step)) in case["grads"].as_array().unwrap().iter().zip(case["steps"].as_array().unwrap()).enumerate() {
            // Gradients arrive through autodiff: d(sum(w * g))/dw = g.
            let grads = w.mul(&tensor(g)).unwrap().sum().backward().unwrap();
            opt.apply(std::slice::from_ref(&w), &grads).unwrap();
            assert_close(&format!("{name} step {} weights", i + 1), &w.to_vec(), &floats(&step["weights"]["data"]), TIGHT);
        }
        assert_eq!(opt.iterations(), 4);
    }
}

#[test]
fn adam_slots_match_keras() {
    let fx = fixture("keras_optimizers.json");
    for case in fx["cases"].as_array().unwrap().iter().filter(|c| matches!(c["name"].as_str().unwrap(), "adam_default" | "adam_custom")) {
        let name = case["name"].as_str().unwrap();
        let w0 = tensor(&case["initial"]);
        let w = Tensor::variable(w0.to_vec(), w0.shape()).unwrap();
        let mut opt = if name == "adam_default" { Adam::default() } else { Adam::new(0.01).unwrap().betas(0.8, 0.99).unwrap().epsilon(1e-5).unwrap() };
        for (g, step) in case["grads"].as_array().unwrap().iter().zip(case["steps"].as_array().unwrap()) {
            let grads = w.mul(&tensor(g)).unwrap().sum().backward().unwrap();
            opt.apply(std::slice::from_ref(&w), &grads).unwrap();
            let (m, v) = opt.moments(&w).unwrap();
            assert_close(&format!("{name} m"), &m, &floats(&step["m"]["data"]), TIGHT);
            assert_close(&format!("{name} v"), &v, &floats(&step["v"]["data"]), TIGHT);
        }
    }
}

fn fit_model(name: &str) -> Sequential {
    let mut m = Sequential::with_seed(0);
    match name {
        "dense_adam_cce" => {
            m.add(Dense::new(8).activation(Relu).input_shape([4])).unwrap();
            m.add(Dense::new(3).activation(Softmax)).unwrap();
        }
        "dense_sgd_mse" => {
            m.add(Dense::new(5).activation(Tanh).input_shape([4])).unwrap();
            m.add(Dense::new(3).activation(Sigmoid)).unwrap();
        }
        "conv_adam_sparse" => {
            m.add(Conv2D::new(3, (3, 3)).activation(Relu).input_shape([8, 8, 1])).unwrap();
            m.add(MaxPooling2D::new((2, 2))).unwrap();
            m.add(Conv2D::new(4, (2, 2)).padding(Padding::Same).activation(Relu)).unwrap();
            m.add(Flatten::new()).unwrap();
            m.add(Dense::new(3).activation(Softmax)).unwrap();
        }
        other => panic!("no model for fixture {other}"),
    }
    m
}

#[test]
fn short_fit_matches_keras() {
    let fx = fixture("keras_fit.json");
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut model = fit_model(name);
        model.build_from_declared().unwrap();
        for ((_, w), k) in model.named_weights().iter().zip(case["initial_weights"].as_array().unwrap()) {
            w.data_mut().copy_from_slice(&tensor(k).data());
        }
        let lr = case["learning_rate"].as_f64().unwrap() as f32;
        let optimizer: Box<dyn Optimizer> = match case["optimizer"].as_str().unwrap() {
            "adam" => Box::new(Adam::new(lr).unwrap()),
            _ => Box::new(SGD::new(lr).unwrap()),
        };
        model.compile(optimizer, case["loss"].as_str().unwrap(), &["accuracy"]).unwrap();
        let options = FitOptions {
            epochs: case["epochs"].as_u64().unwrap() as usize,
            batch_size: case["batch_size"].as_u64().unwrap() as usize,
            shuffle: false,
            verbose: 0,
            ..Default::default()
        };
        let history = model.fit(tensor(&case["x"]), tensor(&case["y"]), options).unwrap();
        let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        assert_close(&format!("{name} history loss"), &as_f32(history.get("loss").unwrap()), &floats(&case["history_loss"]), TIGHT);
        assert_close(&format!("{name} history accuracy"), &as_f32(history.get("accuracy").unwrap()), &floats(&case["history_accuracy"]), TIGHT);
        for ((wname, w), k) in model.named_weights().iter().zip(case["final_weights"].as_array().unwrap()) {
            assert_close(&format!("{name} final {wname}"), &w.to_vec(), &floats(&k["data"]), TIGHT);
        }
    }
}

#[test]
fn streaming_metrics_match_keras() {
    use strata::metrics::{self, Metric, TopKAccuracy};
    let fx = fixture("keras_metrics.json");
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut m: Box<dyn Metric> = if name.starts_with("top_k") {
            Box::new(TopKAccuracy::new(case["k"].as_u64().unwrap() as usize))
        } else {
            metrics::from_name(name).unwrap()
        };
        for (y, p) in case["y_true"].as_array().unwrap().iter().zip(case["y_pred"].as_array().unwrap()) {
            m.update(&tensor(y), &tensor(p), None).unwrap();
        }
        assert_close(&format!("{name} result"), &[m.result() as f32], &[case["result"].as_f64().unwrap() as f32], TIGHT);
        m.reset();
        assert_eq!(m.result(), 0.0);
    }
}

#[test]
fn initializers_match_keras_distributions() {
    let fx = fixture("keras_layers_extra.json");
    for case in fx["initializers"].as_array().unwrap() {
        let class = case["config"]["class_name"].as_str().unwrap();
        // Read through a layer config, as a Keras model file gives it.
        let config = serde_json::json!({ "name": "d", "units": 60, "kernel_initializer": case["config"] });
        let mut layer = keras_config::layer_from_config("Dense", &config).unwrap();
        layer.build(&[360], &mut Rng::new(0)).unwrap();
        let written = layer.config()["kernel_initializer"].clone();
        assert_eq!(written["class_name"], case["config"]["class_name"]);
        for (key, value) in case["config"]["config"].as_object().unwrap() {
            if value.is_number() {
                assert_eq!(written["config"][key].as_f64().map(|v| v as f32), value.as_f64().map(|v| v as f32), "{class}: {key}");
            } else if !value.is_null() && key != "input_axes" && key != "output_axes" {
                assert_eq!(&written["config"][key], value, "{class}: {key}");
            }
        }
        // Same distribution as Keras's sample of the same (3, 3, 40, 60) shape: mean, variance, range.
        let mut init = keras_config::layer_from_config("Conv2D", &serde_json::json!({ "name": "c", "filters": 60, "kernel_size": [3, 3], "kernel_initializer": case["config"] })).unwrap();
        init.build(&[5, 5, 40], &mut Rng::new(11)).unwrap();
        let values = init.weights()[0].tensor.to_vec();
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let variance = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let max_abs = values.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
        let (k_mean, k_var, k_max) = (case["mean"].as_f64().unwrap(), case["variance"].as_f64().unwrap(), case["max_abs"].as_f64().unwrap());
        eprintln!("{class}: mean {mean:.5} vs {k_mean:.5}, variance {variance:.6} vs {k_var:.6}, max |w| {max_abs:.4} vs {k_max:.4}");
        assert!((variance - k_var).abs() < 0.05 * k_var, "{class}: variance {variance} vs Keras {k_var}");
        assert!((mean - k_mean).abs() < 0.05 * k_var.sqrt() + 1e-3, "{class}: mean {mean} vs Keras {k_mean}");
        // The largest value bounds uniform and truncated draws; for the others it is an extreme-value statistic.
        let bounded = class != "Orthogonal" && case["config"]["config"]["distribution"] != "untruncated_normal";
        assert!(!bounded || (max_abs - k_max).abs() < 0.15 * k_max, "{class}: max |w| {max_abs} vs Keras {k_max}");
    }
    let identity = strata::initializers::Initializer::Identity { gain: 2.0 }.sample(&[3, 4], &mut Rng::new(0));
    assert_eq!(identity, floats(&fx["identity"]["data"]));
}

/// Short fits of models Strata reads from Keras's `to_json()` (layers,
/// regularizers, constraints, optimizer and loss from `compile_config`).
#[test]
fn fits_from_keras_json_match_keras() {
    let fx = fixture("keras_fit_extra.json");
    for case in fx["cases"].as_array().unwrap() {
        check_fit_case(case);
    }
}

/// A short fit of a model read from Keras's `to_json()`, against Keras's.
fn check_fit_case(case: &serde_json::Value) {
    let name = case["name"].as_str().unwrap();
    let mut model = Sequential::from_json_str(case["model_json"].as_str().unwrap(), 0).unwrap_or_else(|e| panic!("{name}: {e}"));
    model.build_from_declared().unwrap();
    assert_eq!(model.count_params() as u64, case["params"].as_u64().unwrap(), "{name}: parameter count");
    let summary = model.summary_string().unwrap();
    let total = summary.lines().find_map(|l| l.trim().strip_prefix("Total params: ")).and_then(|t| t.split_whitespace().next()).unwrap_or_default().replace(',', "");
    assert_eq!(total, case["params"].to_string(), "{name}: summary {summary}");
    for ((_, w), k) in model.named_weights().iter().zip(case["initial_weights"].as_array().unwrap()) {
        w.data_mut().copy_from_slice(&tensor(k).data());
    }
    let (x, y) = (tensor(&case["x"]), tensor(&case["y"]));
    let batch_size = case["batch_size"].as_u64().unwrap() as usize;
    let class_weight = case["class_weight"].as_object().map(|m| m.iter().map(|(k, v)| (k.parse().unwrap(), v.as_f64().unwrap() as f32)).collect());
    let sample_weight = case.get("sample_weight").map(tensor);
    let options = FitOptions { epochs: case["epochs"].as_u64().unwrap() as usize, batch_size, shuffle: false, verbose: 0, class_weight, sample_weight, ..Default::default() };
    let history = model.fit(&x, &y, options).unwrap();
    let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    assert_close(&format!("{name} history loss"), &as_f32(history.get("loss").unwrap()), &floats(&case["history_loss"]), TIGHT);
    for ((wname, w), k) in model.named_weights().iter().zip(case["final_weights"].as_array().unwrap()) {
        assert_close(&format!("{name} final {wname}"), &w.to_vec(), &floats(&k["data"]), TIGHT);
    }
    let evaluated = model.evaluate(&x, &y, batch_size).unwrap().get("loss").unwrap() as f32;
    assert_close(&format!("{name} evaluate loss"), &[evaluated], &[case["evaluate_loss"].as_f64().unwrap() as f32], TIGHT);
    // The config Strata writes back (regularizers and constraints included) builds the same model.
    let again = Sequential::from_json(&model.to_json(), 0).unwrap();
    assert_eq!(again.to_json()["config"], model.to_json()["config"], "{name}: config round trip");
}

#[test]
fn learning_rate_schedules_match_keras() {
    let fx = fixture("keras_fit_extra.json");
    for case in fx["schedules"].as_array().unwrap() {
        let schedule = strata::optimizers::Schedule::from_config(&case["config"]).unwrap();
        let ours: Vec<f32> = (0..25).map(|step| schedule.at(step)).collect();
        let name = case["config"]["class_name"].as_str().unwrap();
        assert_close(&format!("{name} rates"), &ours, &floats(&case["values"]), TIGHT);
        let again = strata::optimizers::Schedule::from_config(&schedule.config()).unwrap();
        assert_eq!(again, schedule, "{name}: config round trip");
    }
}

#[test]
fn losses_with_options_and_weights_match_keras() {
    let fx = fixture("keras_fit_extra.json");
    for case in fx["losses"].as_array().unwrap() {
        let loss = losses::from_config(&case["config"]).unwrap();
        let name = format!("{} {}", case["name"].as_str().unwrap(), if case["sample_weight"].is_null() { "" } else { "weighted" });
        let pred = tensor(&case["y_pred"]);
        let pred = Tensor::variable(pred.to_vec(), pred.shape()).unwrap();
        let weights = (!case["sample_weight"].is_null()).then(|| tensor(&case["sample_weight"]));
        let value = loss.call_weighted(&tensor(&case["y_true"]), &pred, weights.as_ref()).unwrap();
        assert_close(&format!("{name} value"), &[value.item().unwrap()], &[case["loss"].as_f64().unwrap() as f32], TIGHT);
        let grads = value.backward().unwrap();
        assert_close(&format!("{name} gradient"), &grads.get(&pred).unwrap().to_vec(), &floats(&case["grad"]["data"]), TIGHT);
        // Its config reads back to the same loss.
        assert_eq!(losses::from_config(&loss.serialize()).unwrap().config(), loss.config(), "{name}");
    }
}

#[test]
fn weighted_metrics_and_auc_match_keras() {
    use strata::metrics;
    let fx = fixture("keras_fit_extra.json");
    for case in fx["metrics"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut m: Box<dyn metrics::Metric> = if name.starts_with("top_k") { Box::new(metrics::TopKAccuracy::new(case["k"].as_u64().unwrap() as usize)) } else { metrics::from_name(name).unwrap() };
        for (k, (y, p)) in case["y_true"].as_array().unwrap().iter().zip(case["y_pred"].as_array().unwrap()).enumerate() {
            let w = case["sample_weight"].as_array().map(|w| floats(&w[k]["data"]));
            m.update(&tensor(y), &tensor(p), w.as_deref()).unwrap();
        }
        let weighted = if case["sample_weight"].is_null() { "" } else { " weighted" };
        assert_close(&format!("{name}{weighted} result"), &[m.result() as f32], &[case["result"].as_f64().unwrap() as f32], TIGHT);
    }
}

#[test]
fn callbacks_decide_as_keras_does() {
    use strata::model::{Callback, Control, EarlyStopping, Logs, Mode, ReduceLROnPlateau};
    let fx = fixture("keras_fit_extra.json");
    for case in fx["callbacks"].as_array().unwrap() {
        let (kind, args, monitor) = (case["kind"].as_str().unwrap(), &case["args"], case["monitor"].as_str().unwrap());
        let num = |k: &str| args.get(k).and_then(|v| v.as_f64());
        let mode = match args.get("mode").and_then(|m| m.as_str()) {
            Some("max") => Mode::Max,
            Some("min") => Mode::Min,
            _ => Mode::Auto,
        };
        let mut m = Sequential::with_seed(0);
        m.add(Dense::new(2).input_shape([3])).unwrap();
        m.compile(Adam::new(0.01).unwrap(), "mse", &[]).unwrap();
        m.build_from_declared().unwrap();
        let mut callback: Box<dyn Callback> = if kind == "early_stopping" {
            let mut es = EarlyStopping::new(monitor).mode(mode).patience(num("patience").unwrap_or(0.0) as usize).min_delta(num("min_delta").unwrap_or(0.0));
            if let Some(start) = num("start_from_epoch") {
                es = es.start_from_epoch(start as usize);
            }
            Box::new(es)
        } else {
            Box::new(
                ReduceLROnPlateau::new(monitor)
                    .mode(mode)
                    .factor(num("factor").unwrap_or(0.1) as f32)
                    .unwrap()
                    .patience(num("patience").unwrap_or(10.0) as usize)
                    .cooldown(num("cooldown").unwrap_or(0.0) as usize)
                    .min_lr(num("min_lr").unwrap_or(0.0) as f32)
                    .min_delta(num("min_delta").unwrap_or(1e-4)),
            )
        };
        let (mut stopped, mut rates) = (None, Vec::new());
        for (epoch, v) in case["values"].as_array().unwrap().iter().enumerate() {
            let mut logs = Logs(vec![(monitor.to_string(), v.as_f64().unwrap())]);
            let control = callback.on_epoch_end(epoch, &mut logs, &mut *m).unwrap();
            rates.push(m.optimizer().unwrap().learning_rate());
            if control == Control::Stop {
                stopped = Some(epoch as u64);
                break;
            }
        }
        assert_eq!(stopped, case["stopped"].as_u64(), "{kind} {args}: stopping epoch");
        assert_close(&format!("{kind} {args} learning rates"), &rates, &floats(&case["learning_rates"]), TIGHT);
    }
}

/// Transposed convolutions, bilinear upsampling, resizing and cropping,
/// rescaling, normalization and the augmentation layers (training with
/// fixed factors, and inference) against Keras (`keras_vision.json`).
///
/// For the projective augmentations the input gradient is the exact
/// vector-Jacobian product (`grad_x_exact`): TensorFlow's registered
/// gradient of `ImageProjectiveTransformV3` warps the output gradient by the
/// inverse transform instead, which is not the derivative.
#[test]
fn vision_layers_match_keras() {
    let fx = fixture("keras_vision.json");
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if name == "randomcrop_inference_returns_input" {
            // Keras 3.15 returns the uncropped input at inference (against its own
            // output shape); Strata cuts the centre window, as Keras 2 did.
            continue;
        }
        let mut case = case.clone();
        if let Some(exact) = case.get("grad_x_exact").cloned() {
            case["grad_x"] = exact;
        }
        check_layer_case(&case);
    }
    // What TensorFlow refuses, Strata refuses with an error naming the layer.
    for case in fx["rejected"].as_array().unwrap() {
        let class = case["class_name"].as_str().unwrap();
        let mut layer = keras_config::layer_from_config(class, &case["config"]).unwrap();
        let shape: Vec<usize> = case["x_shape"].as_array().unwrap()[1..].iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let err = layer.build(&shape, &mut Rng::new(0)).unwrap_err().to_string();
        assert!(err.contains(case["config"]["name"].as_str().unwrap()) && err.contains("output_padding"), "{err}");
    }
}

#[test]
fn affine_transform_matches_keras() {
    use strata::core::ops::{FillMode, Interpolation};
    for case in fixture("keras_vision.json")["affine"].as_array().unwrap() {
        let (fill, interpolation) = (case["fill_mode"].as_str().unwrap(), case["interpolation"].as_str().unwrap());
        let t = floats(&case["transform"]["data"]);
        let transforms: Vec<[f32; 8]> = t.chunks(8).map(|c| c.try_into().unwrap()).collect();
        let out = tensor(&case["x"])
            .affine_transform(&transforms, Interpolation::parse(interpolation).unwrap(), FillMode::parse(fill).unwrap(), case["fill_value"].as_f64().unwrap() as f32)
            .unwrap();
        assert_close(&format!("affine {fill} {interpolation} {}", case["transforms_kind"]), &out.to_vec(), &floats(&case["output"]["data"]), TIGHT);
    }
}

#[test]
fn normalization_adapt_matches_keras() {
    for case in fixture("keras_vision.json")["normalization_adapt"].as_array().unwrap() {
        let mut layer = keras_config::layer_from_config("Normalization", &case["config"]).unwrap();
        let data = tensor(&case["data"]);
        layer.adapt(&data).unwrap();
        let x = tensor(&case["x"]);
        layer.build(&x.shape()[1..], &mut Rng::new(0)).unwrap();
        let weights = layer.weights();
        assert_close("adapted mean", &weights[0].tensor.to_vec(), &floats(&case["mean"]["data"]), TIGHT);
        assert_close("adapted variance", &weights[1].tensor.to_vec(), &floats(&case["variance"]["data"]), TIGHT);
        assert_close("normalized", &layer.call(&x, false).unwrap().to_vec(), &floats(&case["output"]["data"]), TIGHT);
        // Adapting again after build rewrites the weights in place.
        layer.adapt(&data.scale(2.0)).unwrap();
        assert_close("re-adapted mean", &weights[0].tensor.to_vec(), &floats(&case["mean"]["data"]).iter().map(|m| 2.0 * m).collect::<Vec<_>>(), TIGHT);
    }
    let mut empty = strata::layers::Normalization::new();
    let err = strata::layers::Layer::adapt(&mut empty, &Tensor::zeros(&[0, 3])).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn embedding_matches_keras() {
    let case = &fixture("keras_vision.json")["embedding"];
    let mut layer = keras_config::layer_from_config("Embedding", &case["config"]).unwrap();
    let ids: Vec<i32> = case["ids"].as_array().unwrap().iter().flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i32)).collect();
    let ids = Tensor::from_i32(ids, &[2, 4]).unwrap();
    assert_eq!(layer.build(&[4], &mut Rng::new(0)).unwrap(), [4, 3]);
    let table = &layer.weights()[0];
    assert_eq!(table.name, "embeddings");
    table.tensor.data_mut().copy_from_slice(&floats(&case["table"]["data"]));
    let out = layer.call(&ids, false).unwrap();
    assert_close("embedding output", &out.to_vec(), &floats(&case["output"]["data"]), TIGHT);
    let grads = out.mul(&tensor(&case["r"])).unwrap().sum().backward().unwrap();
    assert_close("embedding table gradient", &grads.get(&table.tensor).unwrap().to_vec(), &floats(&case["grad_table"]["data"]), TIGHT);
    // The same ids as floats (what a .npy of labels often holds) look up the same rows.
    assert_eq!(layer.call(&ids.cast(strata::DType::F32), false).unwrap().to_vec(), out.to_vec());
    // An id past the table is named with its position.
    let bad = Tensor::from_i32(vec![0, 1, 7, 2, 3, 4, 5, 6], &[2, 4]).unwrap();
    let err = layer.call(&bad, false).unwrap_err().to_string();
    assert!(err.contains("id 7 at position 2") && err.contains("input_dim=7"), "{err}");
    let again = keras_config::layer_from_config("Embedding", &layer.config()).unwrap();
    assert_eq!(again.config(), layer.config());
}

#[test]
fn recurrent_layers_match_keras() {
    let fx = fixture("keras_recurrent.json");
    for case in fx["cases"].as_array().unwrap() {
        check_layer_case(case);
    }
    check_states_case("LSTM", &fx["states"], &["h0", "c0"]);
    check_states_case("GRU", &fx["gru_states"], &["h0"]);
    check_states_case("SimpleRNN", &fx["simple_rnn_states"], &["h0"]);
    check_states_case("GRU", &fx["gru_reset_before_states"], &["h0"]);
    for case in fx["fits"].as_array().unwrap() {
        check_fit_case(case);
    }
    // A class per step: Keras's sparse cross-entropy over (batch, steps, classes), value and gradient.
    for case in fx["sequence_loss"].as_array().unwrap() {
        let p = tensor(&case["y_pred"]);
        let p = Tensor::variable(p.to_vec(), p.shape()).unwrap();
        let loss = losses::SparseCategoricalCrossentropy::new(case["from_logits"].as_bool().unwrap());
        let value = loss.call(&tensor(&case["y_true"]), &p).unwrap();
        assert_close("sequence sparse cross-entropy", &value.to_vec(), &[case["loss"].as_f64().unwrap() as f32], TIGHT);
        let grad = value.backward().unwrap().get(&p).unwrap().to_vec();
        assert_close("sequence sparse cross-entropy gradient", &grad, &floats(&case["grad"]["data"]), TIGHT);
    }
    // What the fused layers do not do yet is refused, naming the field.
    for (class, field, value) in [("LSTM", "activation", serde_json::json!("relu")), ("LSTM", "stateful", serde_json::json!(true)), ("GRU", "recurrent_activation", serde_json::json!("hard_sigmoid"))] {
        let key = if class == "LSTM" { "states" } else { "gru_states" };
        let mut config = fx[key]["config"].clone();
        config[field] = value;
        let e = keras_config::layer_from_config(class, &config).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(field), "{class} {field}: {e}");
    }
}

#[test]
fn audio_layers_match_keras() {
    let fx = fixture("keras_audio.json");
    for case in fx["cases"].as_array().unwrap() {
        // The STFT kernels Strata makes are the ones Keras's initializer makes.
        let x = tensor(&case["x"]);
        let mut layer = keras_config::layer_from_config(case["class_name"].as_str().unwrap(), &case["config"]).unwrap();
        layer.build(&x.shape()[1..], &mut Rng::new(0)).unwrap();
        for (w, k) in layer.weights().iter().zip(case["weights"].as_array().unwrap()) {
            assert_close(&format!("{} initial {}", case["name"], w.name), &w.tensor.to_vec(), &floats(&k["data"]), TIGHT);
        }
        // The mel layer's transform is a DFT as a matrix product, Keras's an FFT: values agree to 1e-4.
        check_layer_case_within(case, if case["class_name"] == "MelSpectrogram" { 1e-4 } else { TIGHT });
    }
    for case in fx["fits"].as_array().unwrap() {
        check_fit_case(case);
    }
}

/// Initial states in (the inputs after the sequence), final states out
/// (`return_state`), gradients through all of them.
/// Keras 3's recurrent dropout in training with the masks the fixture fixed:
/// each recurrent op given the same masks gives Keras's outputs and gradients.
#[test]
fn recurrent_dropout_matches_keras() {
    use strata::core::ops::RecurrentDropout;
    let fx = fixture("keras_recurrent_dropout.json");
    for case in fx["cases"].as_array().unwrap() {
        let (name, config) = (case["name"].as_str().unwrap(), &case["config"]);
        let x = variable(&case["x"]);
        let w: Vec<Tensor> = case["weights"].as_array().unwrap().iter().map(variable).collect();
        let mask = |key: &str| case.get(key).map(tensor);
        let dropout = RecurrentDropout { inputs: mask("input_masks"), states: mask("state_masks") };
        let (batch, units) = (x.shape()[0], config["units"].as_u64().unwrap() as usize);
        let h0 = Tensor::zeros(&[batch, units]);
        let y = match (case["class_name"].as_str().unwrap(), config["reset_after"].as_bool()) {
            ("LSTM", _) => x.lstm(&w[0], &w[1], &w[2], &h0, &h0, &dropout).unwrap()[0].clone(),
            ("GRU", Some(true)) => x.gru(&w[0], &w[1], [&w[2].select(0, 0).unwrap(), &w[2].select(0, 1).unwrap()], &h0, &dropout).unwrap(),
            ("GRU", _) => x.gru_reset_before(&w[0], &w[1], &w[2], &h0, &dropout).unwrap(),
            _ => x.simple_rnn(&w[0], &w[1], &w[2], &h0, &dropout).unwrap(),
        };
        assert_close(&format!("{name} output"), &y.to_vec(), &floats(&case["output"]["data"]), TIGHT);
        let grads = y.mul(&tensor(&case["r"])).unwrap().sum().backward().unwrap();
        assert_close(&format!("{name} grad x"), &grads.get(&x).unwrap().to_vec(), &floats(&case["grad_x"]["data"]), TIGHT);
        for (i, (w, k)) in w.iter().zip(case["grad_weights"].as_array().unwrap()).enumerate() {
            assert_close(&format!("{name} grad of weight {i}"), &grads.get(w).unwrap().to_vec(), &floats(&k["data"]), TIGHT);
        }
        // The layer reads Keras's config, recurrent_dropout included, and writes it back.
        let mut layer = keras_config::layer_from_config(case["class_name"].as_str().unwrap(), config).unwrap();
        layer.build(&x.shape()[1..], &mut Rng::new(0)).unwrap();
        let rate = |c: &serde_json::Value| c["recurrent_dropout"].as_f64().map(|v| v as f32);
        assert_eq!(rate(&layer.config()), rate(config), "{name}");
    }
}

fn check_states_case(class: &str, st: &serde_json::Value, states: &[&str]) {
    let inputs: Vec<Tensor> = std::iter::once(variable(&st["x"])).chain(states.iter().map(|s| variable(&st[*s]))).collect();
    check_outputs_and_gradients(&format!("{class} with states"), class, st, inputs);
}

#[test]
fn bidirectional_and_time_distributed_match_keras() {
    let fx = fixture("keras_wrappers.json");
    for case in fx["cases"].as_array().unwrap() {
        let inputs: Vec<Tensor> = std::iter::once(variable(&case["x"])).chain(case["initial"].as_array().unwrap().iter().map(variable)).collect();
        check_outputs_and_gradients(case["name"].as_str().unwrap(), case["class_name"].as_str().unwrap(), case, inputs);
    }
    for case in fx["fits"].as_array().unwrap() {
        check_fit_case(case);
    }
    // Keras's own .keras file of LSTM, Bidirectional(GRU), TimeDistributed, MultiHeadAttention and
    // SimpleRNN layers, whose weights sit in inner groups of model.weights.h5; and Strata's .keras of it, read back.
    let k = &fx["keras_file"];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut model = Model::load(dir.join(k["file"].as_str().unwrap())).unwrap();
    assert_eq!(model.count_params() as u64, k["params"].as_u64().unwrap());
    let x = tensor(&k["x"]);
    let p = model.predict(&x, 8).unwrap();
    assert_close("sequence layers from Keras's .keras", &p.to_vec(), &floats(&k["predictions"]["data"]), TIGHT);
    let again = common::temp_dir("sequence_keras").join("again.keras");
    model.save(&again).unwrap();
    assert_eq!(Model::load(&again).unwrap().predict(&x, 8).unwrap().to_vec(), p.to_vec());
}
