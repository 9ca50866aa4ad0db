//! Keras's everyday callbacks, on synthetic logs (exact expectations) and in `fit`.

mod common;

use std::sync::{Arc, Mutex};

use strata::model::{CSVLogger, Callback, Control, EarlyStopping, LearningRateScheduler, Logs, ReduceLROnPlateau, TerminateOnNaN, TrainingModel};
use strata::prelude::*;

fn model() -> Sequential {
    let mut m = Sequential::with_seed(0);
    m.add(Dense::new(2).activation(Softmax).input_shape([3])).unwrap();
    m.compile(Adam::new(0.01).unwrap(), "categorical_crossentropy", &["accuracy"]).unwrap();
    m.build_from_declared().unwrap();
    m
}

fn logs(name: &str, value: f64) -> Logs {
    Logs(vec![(name.to_string(), value)])
}

#[test]
fn early_stopping_waits_patience_epochs_and_restores_the_best() {
    let mut m = model();
    let mut es = EarlyStopping::new("val_loss").patience(2).restore_best_weights(true);
    let kernel = m.named_weights()[0].1.clone();
    let mut stopped = None;
    for (epoch, v) in [1.0, 0.8, 0.9, 0.85, 0.95].into_iter().enumerate() {
        kernel.data_mut()[0] = epoch as f32; // tag the weights with the epoch
        if es.on_epoch_end(epoch, &mut logs("val_loss", v), &mut *m).unwrap() == Control::Stop {
            stopped = Some(epoch);
            break;
        }
    }
    assert_eq!(stopped, Some(3), "two epochs without improvement after the best (epoch 1)");
    es.on_train_end(&Logs::default(), &mut *m).unwrap();
    assert_eq!(kernel.data()[0], 1.0, "weights of the best epoch restored");
    // min_delta: an improvement smaller than it does not count; accuracy is maximised.
    let mut es = EarlyStopping::new("val_accuracy").patience(1).min_delta(0.05);
    let steps: Vec<Control> = [0.5, 0.52, 0.6].iter().enumerate().map(|(e, &v)| es.on_epoch_end(e, &mut logs("val_accuracy", v), &mut *m).unwrap()).collect();
    assert_eq!(steps, [Control::Continue, Control::Stop, Control::Continue]);
    // A monitor the logs lack: a warning (once), and training goes on, as in Keras.
    assert_eq!(EarlyStopping::new("val_auc").on_epoch_end(0, &mut logs("loss", 1.0), &mut *m).unwrap(), Control::Continue);
}

#[test]
fn reduce_lr_on_plateau_after_patience_then_cooldown() {
    let mut m = model();
    let mut cb = ReduceLROnPlateau::new("loss").factor(0.5).unwrap().patience(2).cooldown(1).min_lr(0.002);
    let mut lrs = Vec::new();
    for epoch in 0..8 {
        cb.on_epoch_end(epoch, &mut logs("loss", 1.0), &mut *m).unwrap();
        lrs.push(m.optimizer().unwrap().learning_rate());
    }
    // As Keras counts: epoch 0 sets the best; waits at 1, 2 -> halve at 2. The
    // cooldown epoch (3) resets the wait, but Keras then counts it as a wait
    // since the cooldown has just ended: halve again at 4, and at 6, where
    // 0.00125 is raised to min_lr.
    assert_eq!(lrs, [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.002, 0.002]);
    assert!(ReduceLROnPlateau::new("loss").factor(1.5).is_err());
}

#[test]
fn scheduler_and_csv_logger_during_fit() {
    let mut m = model();
    let x = Tensor::new((0..24).map(|i| (i % 5) as f32 * 0.2).collect(), &[8, 3]).unwrap();
    let y = strata::data::mnist::one_hot(&[0, 1, 0, 1, 1, 0, 0, 1], 2).unwrap();
    let csv = common::temp_file("callbacks", "log.csv");
    let callbacks: Vec<Box<dyn Callback>> = vec![
        Box::new(LearningRateScheduler::new(|epoch, _| 0.1 * 0.5f32.powi(epoch as i32))),
        Box::new(CSVLogger::new(&csv)),
    ];
    m.fit(&x, &y, FitOptions { epochs: 3, batch_size: 4, verbose: 0, callbacks, ..Default::default() }).unwrap();
    assert_eq!(m.optimizer().unwrap().learning_rate(), 0.025);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,loss,accuracy");
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with("2,"));
    std::fs::remove_file(&csv).unwrap();
}

#[test]
fn terminate_on_nan_stops_after_the_epoch_instead_of_failing() {
    let x = Tensor::new((0..40).map(|i| i as f32).collect(), &[10, 4]).unwrap();
    let y = Tensor::new((0..10).flat_map(|i| [(i % 2) as f32, 1.0 - (i % 2) as f32]).collect(), &[10, 2]).unwrap();
    let build = || {
        let mut m = Sequential::with_seed(0);
        m.add(Dense::new(2).input_shape([4])).unwrap();
        // A huge learning rate makes the squared error overflow within a few batches.
        m.compile(SGD::new(1e30).unwrap(), "mse", &[]).unwrap();
        m
    };
    let options = |callbacks: Vec<Box<dyn Callback>>| FitOptions { epochs: 5, batch_size: 2, verbose: 0, callbacks, ..Default::default() };
    let err = build().fit(&x, &y, options(vec![])).unwrap_err().to_string();
    assert!(err.contains("epoch 1") && err.contains("batch"), "{err}");
    let history = build().fit(&x, &y, options(vec![Box::new(TerminateOnNaN)])).unwrap();
    assert_eq!(history.epoch, vec![0], "stopped after the first epoch");
    assert!(!history.get("loss").unwrap()[0].is_finite());
}

/// Logs a value of its own at the end of each epoch.
struct LogsTheEpochSquared;

impl Callback for LogsTheEpochSquared {
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _model: &mut dyn TrainingModel) -> strata::Result<Control> {
        logs.set("epoch_squared", (epoch * epoch) as f64);
        Ok(Control::Continue)
    }
}

#[test]
fn callbacks_add_to_the_logs_and_stay_readable_after_fit() {
    let x = Tensor::new((0..24).map(|i| (i % 5) as f32 / 5.0).collect(), &[8, 3]).unwrap();
    let y = Tensor::new((0..16).map(|i| (i % 2) as f32).collect(), &[8, 2]).unwrap();
    let mut m = model();
    // Keras's habit: keep the EarlyStopping object and read stopped_epoch after fit.
    let es = Arc::new(Mutex::new(EarlyStopping::new("loss").min_delta(10.0).verbose(1)));
    let callbacks: Vec<Box<dyn Callback>> = vec![Box::new(LogsTheEpochSquared), Box::new(es.clone()), Box::new(EarlyStopping::new("no_such_metric"))];
    let history = m.fit(&x, &y, FitOptions { epochs: 5, batch_size: 4, verbose: 0, callbacks, ..Default::default() }).unwrap();
    assert_eq!(history.get("epoch_squared").unwrap(), [0.0, 1.0], "the callback's value is in the History");
    assert_eq!(es.lock().unwrap().stopped_epoch(), Some(1), "no epoch improves by 10: stopped after the second");
    assert_eq!(m.history().get("epoch_squared").unwrap(), [0.0, 1.0]);
}
