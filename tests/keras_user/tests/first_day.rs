//! A Keras user's first day, written as they write Keras: string activations,
//! `get_layer`, freezing, `set_weights`, a layer, a loss and a metric of
//! their own saved and loaded with the optimizer state, a callback that logs
//! a value of its own, and EarlyStopping's `stopped_epoch` read after `fit`.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use strata::layers::{LayerBase, Weight};
use strata::model::{Control, EarlyStopping, Logs, TrainingModel};
use strata::prelude::*;
use strata::Rng;

/// Multiplies each feature by a learned factor (`keras.layers.Layer` subclass).
struct Scale {
    base: LayerBase,
    gamma: Option<Tensor>,
}

impl Scale {
    fn new() -> Self {
        Scale { base: LayerBase::new("Scale"), gamma: None }
    }
}

impl Layer for Scale {
    fn class_name(&self) -> &'static str {
        "Scale"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> strata::Result<Vec<usize>> {
        let features = *input_shape.last().unwrap_or(&1);
        self.gamma = Some(Tensor::variable(vec![1.0; features], &[features])?);
        Ok(input_shape.to_vec())
    }
    fn call(&self, x: &Tensor, _training: bool) -> strata::Result<Tensor> {
        x.mul(self.gamma.as_ref().expect("built before called"))
    }
    fn weights(&self) -> Vec<Weight> {
        self.gamma.iter().map(|g| Weight::new("gamma", g.clone(), true)).collect()
    }
    fn own_config(&self) -> Value {
        json!({})
    }
}

/// Cross-entropy with a little extra weight on confident mistakes: a loss of one's own.
#[derive(Clone, Copy)]
struct SharpCrossentropy;

impl Loss for SharpCrossentropy {
    fn name(&self) -> &'static str {
        "sharp_crossentropy"
    }
    fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> strata::Result<Tensor> {
        let ce = y_true.mul(&y_pred.clip(1e-7, 1.0).log())?.sum_axis(-1, false)?.neg();
        Ok(ce.scale(1.1))
    }
}

/// The mean probability given to the true class: a metric of one's own.
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

/// Logs the learning rate each epoch (Keras: `logs["lr"] = ...` in `on_epoch_end`).
struct LogLearningRate;

impl Callback for LogLearningRate {
    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, model: &mut dyn TrainingModel) -> strata::Result<Control> {
        if let Some(opt) = model.optimizer_mut() {
            logs.set("lr", opt.learning_rate() as f64);
        }
        Ok(Control::Continue)
    }
}

fn digits(n: usize) -> strata::Result<(Tensor, Tensor)> {
    let data = strata::datasets::mnist_sample()?.train.take(n)?;
    let y = data.one_hot(10)?;
    Ok((data.images.reshape(&[n as isize, 784])?, y))
}

fn model() -> strata::Result<Sequential> {
    let mut model = Sequential::with_seed(7);
    model.add(Dense::new(32).activation("relu").input_shape([784]))?;
    model.add(Scale::new())?;
    model.add(Dense::new(10).activation("softmax"))?;
    model.compile_with(Compile::new(Adam::new(1e-3)?).loss(SharpCrossentropy).metrics(&["accuracy"]).metric(TrueClassProbability::default()))?;
    Ok(model)
}

#[test]
fn first_day() -> strata::Result<()> {
    let (x, y) = digits(512)?;
    let mut model = model()?;
    assert_eq!(model.count_params(), 784 * 32 + 32 + 32 + 32 * 10 + 10, "built as soon as the input shape is known");

    // Freeze the first layer, set its weights, check they stay.
    let first = model.get_layer("dense")?;
    let mut weights = first.get_weights();
    weights[1] = Tensor::full(&[32], 0.01);
    first.set_weights(&weights)?;
    first.set_trainable(false);

    let early = Arc::new(Mutex::new(EarlyStopping::new("loss").min_delta(10.0)));
    let callbacks: Vec<Box<dyn Callback>> = vec![Box::new(LogLearningRate), Box::new(early.clone())];
    let history = model.fit(&x, &y, FitOptions { epochs: 5, batch_size: 32, verbose: 0, callbacks, ..Default::default() })?;
    assert_eq!(early.lock().unwrap().stopped_epoch(), Some(1), "no epoch improves the loss by 10");
    assert_eq!(history.get("lr").map(|v| v.len()), Some(2), "the callback's value is in the History");
    assert!(history.get("true_class_probability").is_some());
    assert_eq!(model.get_layer("dense")?.get_weights()[1].to_vec(), vec![0.01; 32], "the frozen layer kept its weights");

    // Save and load with the user's own classes registered, then train on: as if never stopped.
    strata::layers::register_layer("Scale", |_| Ok(Box::new(Scale::new())));
    strata::losses::register_loss("sharp_crossentropy", |_| Ok(Box::new(SharpCrossentropy)));
    strata::metrics::register_metric("true_class_probability", || Box::new(TrueClassProbability::default()));
    let path = std::env::temp_dir().join(format!("keras-user-{}.safetensors", std::process::id()));
    model.save(&path)?;
    let mut loaded = Sequential::load(&path)?;
    let more = FitOptions { epochs: 3, initial_epoch: 2, batch_size: 32, verbose: 0, ..Default::default() };
    loaded.fit(&x, &y, more)?;
    let more = FitOptions { epochs: 3, initial_epoch: 2, batch_size: 32, verbose: 0, ..Default::default() };
    model.fit(&x, &y, more)?;
    let values = |m: &Sequential| m.get_weights().iter().map(Tensor::to_vec).collect::<Vec<_>>();
    assert_eq!(values(&loaded), values(&model), "the loaded model trains on exactly as the original");
    assert!(loaded.get_layer("dense")?.get_weights()[1].to_vec() == vec![0.01; 32], "still frozen after loading");
    std::fs::remove_file(&path).ok();
    Ok(())
}
