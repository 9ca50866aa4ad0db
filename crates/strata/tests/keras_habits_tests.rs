//! What a Keras user writes on their first day, in Rust: strings where Keras
//! takes strings, models built as layers are added, frozen layers, weights
//! with their shapes, metric objects in `compile`.

mod common;

use strata::metrics::TopKAccuracy;
use strata::prelude::*;

fn err<T>(r: strata::Result<T>) -> String {
    r.err().map(|e| e.to_string()).expect("an error")
}

#[test]
fn strings_name_activations_and_paddings() {
    let mut m = Sequential::with_seed(1);
    m.add(Conv2D::new(4, (3, 3)).activation("relu").padding("same").input_shape([6, 6, 1])).unwrap();
    m.add(MaxPooling2D::new(2).padding("valid")).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(3).activation("softmax")).unwrap();
    assert_eq!(m.output_shape(), Some(&[3][..]));
    let config = m.to_json().to_string();
    assert!(config.contains(r#""activation":"relu""#) && config.contains(r#""padding":"same""#), "{config}");
    // A misspelt name is refused by add, naming the layer, the string and the known names.
    let e = err(m.add(Dense::new(2).activation("rellu")));
    assert!(e.contains("dense") && e.contains("rellu") && e.contains("known:") && e.contains("relu"), "{e}");
    let e = err(Sequential::with_seed(0).add(Conv2D::new(2, 3).padding("full")));
    assert!(e.contains("conv2d") && e.contains("'full'") && e.contains("valid, same"), "{e}");
    assert_eq!(m.layers().len(), 4, "the refused layer was not added");
}

#[test]
fn a_sequential_is_built_as_layers_are_added() {
    let mut m = Sequential::with_seed(2);
    m.add(Dense::new(8).activation(Relu).input_shape([4])).unwrap();
    assert_eq!(m.count_params(), 40, "built at the first add");
    m.add(Dense::new(2)).unwrap();
    assert_eq!((m.count_params(), m.trainable_weights().len()), (58, 4));
    // The same weights as building all at once (layer i draws from stream i of the seed).
    let mut later = Sequential::with_seed(2);
    later.add(Dense::new(8).activation(Relu)).unwrap();
    later.add(Dense::new(2)).unwrap();
    later.build(&[4]).unwrap();
    let values = |m: &Sequential| m.get_weights().iter().map(Tensor::to_vec).collect::<Vec<_>>();
    assert_eq!(values(&m), values(&later));
    // A layer that does not fit the built model is refused and not added.
    let e = err(m.add(Conv2D::new(2, 3)));
    assert!(e.contains("conv2d"), "{e}");
    assert_eq!(m.layers().len(), 2);
    // Weights taken before a model is built are no weights: updating them is an error, not a no-op.
    let mut unbuilt = Sequential::with_seed(0);
    unbuilt.add(Dense::new(2)).unwrap();
    let weights = unbuilt.trainable_weights();
    unbuilt.build(&[3]).unwrap();
    let grads = unbuilt.call(&Tensor::zeros(&[1, 3]), true).unwrap().square().sum().backward().unwrap();
    let e = err(Adam::new(0.1).unwrap().apply(&weights, &grads));
    assert!(e.contains("before it was built"), "{e}");
}

#[test]
fn frozen_layers_keep_their_weights() {
    let mut m = Sequential::with_seed(3);
    m.add(Dense::new(4).activation(Relu).input_shape([3])).unwrap();
    m.add(Dense::new(2).activation(Softmax)).unwrap();
    m.get_layer("dense").unwrap().set_trainable(false);
    assert_eq!(m.trainable_weights().len(), 2);
    assert!(m.summary_string().unwrap().contains("Non-trainable params: 16"));
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    let frozen = m.get_layer("dense").unwrap().get_weights();
    let head = m.get_layer("dense_1").unwrap().get_weights();
    let x = Tensor::new((0..24).map(|i| i as f32 / 24.0).collect(), &[8, 3]).unwrap();
    let y = Tensor::new((0..16).map(|i| (i % 2) as f32).collect(), &[8, 2]).unwrap();
    m.fit(&x, &y, FitOptions { epochs: 2, verbose: 0, ..Default::default() }).unwrap();
    let same = |a: &[Tensor], b: &[Tensor]| a.iter().zip(b).all(|(a, b)| a.to_vec() == b.to_vec());
    assert!(same(&frozen, &m.get_layer("dense").unwrap().get_weights()), "the frozen layer did not move");
    assert!(!same(&head, &m.get_layer("dense_1").unwrap().get_weights()), "the other one trained");
    // `trainable: false` is in the config and reads back.
    let again = Model::from_json(&m.to_json(), 0).unwrap();
    assert_eq!(again.trainable_weights().len(), 2);
}

#[test]
fn weights_come_and_go_with_their_shapes() {
    let mut m = Sequential::with_seed(4);
    m.add(Dense::new(3).input_shape([2])).unwrap();
    let w = m.get_weights();
    assert_eq!(w.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>(), [vec![2, 3], vec![3]]);
    let ones = vec![Tensor::full(&[2, 3], 1.0), Tensor::full(&[3], 0.5)];
    m.set_weights(&ones).unwrap();
    assert_eq!(m.predict(Tensor::new(vec![1.0, 2.0], &[1, 2]).unwrap(), 1).unwrap().to_vec(), [3.5, 3.5, 3.5]);
    let e = err(m.set_weights(&[Tensor::full(&[3, 2], 1.0), Tensor::full(&[3], 0.5)]));
    assert!(e.contains("dense/kernel") && e.contains("(2, 3)") && e.contains("(3, 2)"), "{e}");
    assert!(err(m.set_weights(&ones[..1])).contains("2 weights, got 1"));
    let layer = m.get_layer("dense").unwrap();
    layer.set_weights(&[Tensor::zeros(&[2, 3]), Tensor::zeros(&[3])]).unwrap();
    assert!(err(layer.set_weights(&[Tensor::zeros(&[2, 3])])).contains("2 weights, got 1"));
}

/// A metric of the user's own: the mean predicted probability of the true class.
#[derive(Clone, Default)]
struct TrueClassProbability {
    total: f64,
    count: f64,
}

impl Metric for TrueClassProbability {
    fn name(&self) -> &str {
        "true_class_probability"
    }
    fn update(&mut self, y_true: &Tensor, y_pred: &Tensor, _sample_weight: Option<&[f32]>) -> strata::Result<()> {
        self.total += y_true.mul(y_pred)?.sum().item()? as f64;
        self.count += y_true.shape()[0] as f64;
        Ok(())
    }
    fn result(&self) -> f64 {
        self.total / self.count.max(1.0)
    }
    fn reset(&mut self) {
        *self = Self::default();
    }
}

#[test]
fn metric_objects_compile_and_log() {
    let mut m = Sequential::with_seed(5);
    m.add(Dense::new(3).activation(Softmax).input_shape([2])).unwrap();
    m.compile_with(Compile::new("adam").loss("categorical_crossentropy").metrics(&["accuracy"]).metric(TopKAccuracy::new(2)).metric(TrueClassProbability::default())).unwrap();
    let x = Tensor::new((0..12).map(|i| i as f32 / 12.0).collect(), &[6, 2]).unwrap();
    let y = Tensor::new((0..18).map(|i| f32::from(i % 3 == 0)).collect(), &[6, 3]).unwrap();
    let history = m.fit(&x, &y, FitOptions { verbose: 0, ..Default::default() }).unwrap();
    for name in ["accuracy", "top_k_categorical_accuracy", "true_class_probability"] {
        assert!(history.get(name).is_some(), "{name} in {:?}", history.history.keys());
    }
    let p = history.get("true_class_probability").unwrap()[0];
    assert!(p > 0.0 && p < 1.0, "{p}");
    // A metric's arguments travel with the config (k = 2, not Keras's default 5).
    let config = m.to_json();
    assert!(config["compile_config"]["metrics"].to_string().contains(r#""k":2"#), "{}", config["compile_config"]);
    strata::metrics::register_metric("true_class_probability", || Box::new(TrueClassProbability::default()));
    let mut again = Model::from_json(&config, 5).unwrap();
    assert_eq!(again.to_json()["compile_config"]["metrics"], config["compile_config"]["metrics"]);
    let (a, b) = (m.evaluate(&x, &y, 6).unwrap(), again.evaluate(&x, &y, 6).unwrap());
    assert_eq!(a.get("top_k_categorical_accuracy"), b.get("top_k_categorical_accuracy"));
}

/// Half the mean squared error: a loss of the user's own.
#[derive(Clone, Copy)]
struct HalfMse;

impl Loss for HalfMse {
    fn name(&self) -> &'static str {
        "half_mse"
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> strata::Result<Tensor> {
        Ok(y_pred.sub(y_true)?.square().mean_axis(-1, false)?.scale(0.5))
    }
}

#[test]
fn own_losses_and_metrics_save_and_load_once_registered() {
    let build = || {
        let mut m = Sequential::with_seed(6);
        m.add(Dense::new(3).activation(Softmax).input_shape([2])).unwrap();
        m.compile_with(Compile::new("adam").loss(HalfMse).metric(TrueClassProbability::default())).unwrap();
        m
    };
    let x = Tensor::new((0..12).map(|i| i as f32 / 12.0).collect(), &[6, 2]).unwrap();
    let y = Tensor::new((0..18).map(|i| f32::from(i % 3 == 0)).collect(), &[6, 3]).unwrap();
    let mut m = build();
    m.fit(&x, &y, FitOptions { verbose: 0, ..Default::default() }).unwrap();
    let path = common::temp_file("habits", "own-objects.safetensors");
    // Not registered: save refuses, naming what a load could not read, instead of writing a file that cannot load.
    let e = err(m.save(&path));
    assert!(e.contains("half_mse") && e.contains("register"), "{e}");
    assert!(!path.exists());
    strata::losses::register_loss("half_mse", |_| Ok(Box::new(HalfMse)));
    strata::metrics::register_metric("true_class_probability", || Box::new(TrueClassProbability::default()));
    m.save(&path).unwrap();
    // Loaded with the optimizer's state and progress: one more epoch equals two straight.
    let mut loaded = Sequential::load(&path).unwrap();
    loaded.fit(&x, &y, FitOptions { epochs: 2, initial_epoch: 1, verbose: 0, ..Default::default() }).unwrap();
    let mut straight = build();
    straight.fit(&x, &y, FitOptions { epochs: 2, verbose: 0, ..Default::default() }).unwrap();
    let values = |m: &Sequential| m.get_weights().iter().map(Tensor::to_vec).collect::<Vec<_>>();
    assert_eq!(values(&loaded), values(&straight));
    assert_eq!(loaded.history().get("true_class_probability"), straight.history().get("true_class_probability"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn own_activations_initializers_regularizers_constraints_and_schedules_save_and_load() {
    use strata::activations::register_activation;
    use strata::initializers::register_initializer;
    use strata::optimizers::{register_schedule, with_schedule};
    use strata::regularizers::{register_constraint, register_regularizer};
    let square_plus = register_activation("square_plus", |x| Ok(x.square().add_scalar(4.0).sqrt().add(x)?.scale(0.5)));
    let ramp = register_initializer("ramp", |shape, _rng| (0..shape.iter().product::<usize>()).map(|i| 0.01 * i as f32).collect());
    let l4 = register_regularizer("l4", |w| Ok(w.square().square().sum().scale(1e-3)));
    let capped = register_constraint("capped", |w| Ok(w.clip(-0.5, 0.5)));
    let halving = register_schedule("halving", |step| 0.01 * 0.5f64.powi((step / 2) as i32));
    let build = || {
        let mut m = Sequential::with_seed(8);
        m.add(Dense::new(4).activation(square_plus).kernel_initializer(ramp).kernel_regularizer(l4).kernel_constraint(capped.clone()).input_shape([3])).unwrap();
        m.add(Dense::new(2).activation("square_plus")).unwrap();
        m.compile(with_schedule(Box::new(Adam::default()), halving.clone()).unwrap(), "mse", &[]).unwrap();
        m
    };
    let x = Tensor::new((0..18).map(|i| i as f32 / 18.0).collect(), &[6, 3]).unwrap();
    let y = Tensor::new((0..12).map(|i| (i % 3) as f32).collect(), &[6, 2]).unwrap();
    let mut m = build();
    assert_eq!(m.get_weights()[0].to_vec()[..3], [0.0, 0.01, 0.02], "the ramp initializer");
    m.fit(&x, &y, FitOptions { epochs: 2, batch_size: 2, verbose: 0, ..Default::default() }).unwrap();
    assert!(m.get_weights()[0].to_vec().iter().all(|v| v.abs() <= 0.5), "the constraint holds");
    assert_eq!(m.optimizer().unwrap().learning_rate(), 0.01 * 0.5f32.powi(3), "six updates: the halving schedule at step 6");
    let config = m.to_json().to_string();
    for name in ["square_plus", "ramp", "l4", "capped", "halving"] {
        assert!(config.contains(&format!("\"{name}\"")), "{name} in {config}");
    }
    let path = common::temp_file("habits", "own-kinds.safetensors");
    m.save(&path).unwrap();
    let mut loaded = Sequential::load(&path).unwrap();
    assert_eq!(loaded.to_json(), m.to_json());
    loaded.fit(&x, &y, FitOptions { epochs: 3, initial_epoch: 2, batch_size: 2, verbose: 0, ..Default::default() }).unwrap();
    let mut straight = build();
    straight.fit(&x, &y, FitOptions { epochs: 3, batch_size: 2, verbose: 0, ..Default::default() }).unwrap();
    let values = |m: &Sequential| m.get_weights().iter().map(Tensor::to_vec).collect::<Vec<_>>();
    assert_eq!(values(&loaded), values(&straight));
    std::fs::remove_file(&path).unwrap();
}

/// Review findings, each pinned: a frozen BatchNormalization runs in inference
/// mode and keeps its statistics; a frozen layer's constraint and penalty do
/// not apply; a frozen nested model stays frozen through its config; an
/// EarlyStopping reused for a second `fit` starts over; weights set from the
/// model's own tensors neither deadlock nor change.
#[test]
fn frozen_layers_callbacks_reused_and_weights_set_from_themselves() {
    use strata::layers::BatchNormalization;
    use strata::model::EarlyStopping;
    use strata::regularizers::{Constraint, Regularizer};
    let x = Tensor::new((0..24).map(|i| i as f32 / 7.0).collect(), &[8, 3]).unwrap();
    let y = Tensor::new((0..16).map(|i| (i % 2) as f32).collect(), &[8, 2]).unwrap();
    let mut m = Sequential::with_seed(9);
    m.add(Dense::new(4).kernel_constraint(Constraint::NonNeg).kernel_regularizer(Regularizer::L2(10.0)).input_shape([3])).unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(Dense::new(2).activation(Softmax)).unwrap();
    m.compile("sgd", "categorical_crossentropy", &[]).unwrap();
    let kernel = m.get_layer("dense").unwrap().get_weights()[0].to_vec();
    assert!(kernel.iter().any(|&v| v < 0.0), "a negative entry the constraint would zero");
    m.get_layer("dense").unwrap().set_trainable(false);
    m.get_layer("batch_normalization").unwrap().set_trainable(false);
    let stats = m.get_layer("batch_normalization").unwrap().get_weights();
    let loss_unfrozen_penalty = m.evaluate(&x, &y, 8).unwrap().get("loss").unwrap();
    m.fit(&x, &y, FitOptions { epochs: 2, verbose: 0, ..Default::default() }).unwrap();
    assert_eq!(m.get_layer("dense").unwrap().get_weights()[0].to_vec(), kernel, "a frozen layer's constraint does not apply");
    let after = m.get_layer("batch_normalization").unwrap().get_weights();
    assert!(stats.iter().zip(&after).all(|(a, b)| a.to_vec() == b.to_vec()), "a frozen BatchNormalization keeps its moving statistics");
    assert!(loss_unfrozen_penalty < 5.0, "the frozen kernel's L2 penalty (factor 10) is not in the loss: {loss_unfrozen_penalty}");
    // Weights set from the model's own tensors: no deadlock, nothing changes.
    let own: Vec<Tensor> = m.named_weights().into_iter().map(|(_, t)| t).collect();
    let before = m.get_weights().iter().map(Tensor::to_vec).collect::<Vec<_>>();
    m.set_weights(&own).unwrap();
    assert_eq!(m.get_weights().iter().map(Tensor::to_vec).collect::<Vec<_>>(), before);
    // A frozen nested model stays frozen through its config.
    let inner_in = Input::named([3], "inner_in");
    let inner = Model::with_seed(std::slice::from_ref(&inner_in), &[Dense::new(2).named("inner_dense").apply(&inner_in).unwrap()], 0).unwrap();
    let outer_in = Input::named([3], "outer_in");
    let inner = inner.into_layer_ref();
    let outer = Model::with_seed(std::slice::from_ref(&outer_in), &[inner.apply(&outer_in).unwrap()], 0).unwrap();
    inner.set_trainable(false);
    assert!(outer.trainable_weights().is_empty());
    assert!(Model::from_json(&outer.to_json(), 0).unwrap().trainable_weights().is_empty(), "frozen after a config round trip");
    // An EarlyStopping reused for a second fit starts over.
    let es = std::sync::Arc::new(std::sync::Mutex::new(EarlyStopping::new("loss").min_delta(10.0)));
    for _ in 0..2 {
        let callbacks: Vec<Box<dyn Callback>> = vec![Box::new(es.clone())];
        let h = m.fit(&x, &y, FitOptions { epochs: 4, verbose: 0, callbacks, ..Default::default() }).unwrap();
        assert_eq!(h.epoch.len(), 2, "each fit stops after its own second epoch");
    }
}
