//! The training step as a user's own: a restated default step trains
//! bit-identically to `fit`'s; gradient stages run before the optimizer; a
//! small GAN (two models, two optimizers) trains inside `fit`.

use strata::data::dataset::Batch;
use strata::losses::{BinaryCrossentropy, Loss};
use strata::model::{GradientStage, Model, StepLogs, TrainStep};
use strata::optimizers::{Adam, Clip, Optimizer};
use strata::prelude::*;
use strata::{Gradients, Rng};

fn classifier(seed: u64) -> Sequential {
    let mut m = Sequential::with_seed(seed);
    m.add(Dense::new(8).activation(Relu).input_shape([4])).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m
}

fn data() -> (Tensor, Tensor) {
    let mut r = Rng::new(3);
    let x = Tensor::new((0..40 * 4).map(|_| r.normal()).collect(), &[40, 4]).unwrap();
    let labels: Vec<usize> = (0..40).map(|_| r.below(3)).collect();
    (x, strata::data::mnist::one_hot(&labels, 3).unwrap())
}

/// The default step written out with the public pieces.
struct Restated;

impl TrainStep for Restated {
    fn train_step(&mut self, model: &mut Model, batch: &Batch, logs: &mut StepLogs) -> strata::Result<()> {
        let predictions = model.call_many(&batch.inputs, true)?;
        let loss = model.compute_loss(&batch.targets, &predictions, batch.sample_weight.as_ref())?;
        let grads = loss.total.backward()?;
        model.apply_gradients(&grads)?;
        model.update_metrics(&batch.targets, &predictions, batch.sample_weight.as_ref())?;
        logs.mean("loss", loss.total.item()? as f64, batch.len() as f64);
        for (name, value) in model.metric_results() {
            logs.set(&name, value);
        }
        Ok(())
    }
}

#[test]
fn a_restated_default_step_trains_bit_identically() {
    let (x, y) = data();
    let options = || FitOptions { epochs: 3, batch_size: 8, verbose: 0, ..Default::default() };
    let mut plain = classifier(1);
    plain.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    let h1 = plain.fit(&x, &y, options()).unwrap();
    let mut custom = classifier(1);
    custom.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    custom.set_train_step(Restated);
    let h2 = custom.fit(&x, &y, options()).unwrap();
    assert_eq!(values(&plain.get_weights()), values(&custom.get_weights()));
    assert_eq!(h1.history, h2.history);
}

/// Clipping each value as a gradient stage equals the optimizer's `clipvalue`.
struct ClipValues(f32);

impl GradientStage for ClipValues {
    fn process(&mut self, weights: &[Tensor], grads: &mut Gradients) -> strata::Result<()> {
        for w in weights {
            if let Some(clipped) = grads.get(w).map(|g| g.clip(-self.0, self.0)) {
                grads.set(w, clipped)?;
            }
        }
        Ok(())
    }
}

#[test]
fn gradient_stages_run_between_backward_and_the_optimizer() {
    let (x, y) = data();
    let options = || FitOptions { epochs: 2, batch_size: 8, verbose: 0, ..Default::default() };
    let mut wrapped = classifier(2);
    let clipped = strata::optimizers::with_clipping(Box::new(strata::optimizers::SGD::new(0.5).unwrap()), Clip::Value(0.01)).unwrap();
    wrapped.compile(clipped, "categorical_crossentropy", &[]).unwrap();
    wrapped.fit(&x, &y, options()).unwrap();
    let mut staged = classifier(2);
    staged.compile(strata::optimizers::SGD::new(0.5).unwrap(), "categorical_crossentropy", &[]).unwrap();
    staged.add_gradient_stage(ClipValues(0.01));
    staged.fit(&x, &y, options()).unwrap();
    assert_eq!(values(&wrapped.get_weights()), values(&staged.get_weights()));
}

/// A GAN on 2-D points: the discriminator is the model `fit` trains; the
/// step also holds the generator and its own optimizer.
struct GanStep {
    generator: Model,
    optimizer: Adam,
    rng: Rng,
}

fn noise(rng: &mut Rng, n: usize) -> Tensor {
    Tensor::new((0..n * 2).map(|_| rng.normal()).collect(), &[n, 2]).unwrap()
}

impl TrainStep for GanStep {
    fn train_step(&mut self, discriminator: &mut Model, batch: &Batch, logs: &mut StepLogs) -> strata::Result<()> {
        let n = batch.len();
        let bce = BinaryCrossentropy::new(true);
        let (ones, zeros) = (Tensor::full(&[n, 1], 1.0), Tensor::zeros(&[n, 1]));
        // The discriminator: real points are 1, generated ones 0.
        let fake = self.generator.call(&noise(&mut self.rng, n), false)?.detach();
        let d_loss = bce.call(&ones, &discriminator.call(batch.x(), true)?)?.add(&bce.call(&zeros, &discriminator.call(&fake, true)?)?)?;
        discriminator.apply_gradients(&d_loss.backward()?)?;
        // The generator: make the discriminator say 1.
        let g_loss = bce.call(&ones, &discriminator.call(&self.generator.call(&noise(&mut self.rng, n), true)?, true)?)?;
        self.optimizer.apply(&self.generator.trainable_weights(), &g_loss.backward()?)?;
        logs.mean("d_loss", d_loss.item()? as f64, n as f64);
        logs.mean("g_loss", g_loss.item()? as f64, n as f64);
        Ok(())
    }
}

fn mean_and_covariance(points: &[f32]) -> ([f64; 2], [f64; 3]) {
    let n = (points.len() / 2) as f64;
    let (mut m, mut c) = ([0.0; 2], [0.0; 3]);
    for p in points.chunks(2) {
        m[0] += p[0] as f64 / n;
        m[1] += p[1] as f64 / n;
    }
    for p in points.chunks(2) {
        let (a, b) = (p[0] as f64 - m[0], p[1] as f64 - m[1]);
        c[0] += a * a / n;
        c[1] += a * b / n;
        c[2] += b * b / n;
    }
    (m, c)
}

#[test]
fn a_gan_on_2d_points_moves_its_samples_to_the_target() {
    // Target: mean (2, -1), covariance [[1, 0.6], [0.6, 0.8]] (x = mean + L z).
    let mut rng = Rng::new(7);
    let (l11, l21, l22) = (1.0f32, 0.6f32, (0.8f32 - 0.36).sqrt());
    let real: Vec<f32> = (0..4096).flat_map(|_| {
        let (z1, z2) = (rng.normal(), rng.normal());
        [2.0 + l11 * z1, -1.0 + l21 * z1 + l22 * z2]
    }).collect();
    let real = Tensor::new(real, &[4096, 2]).unwrap();
    let (gi, di) = (Input::named([2], "z"), Input::named([2], "point"));
    let g = Dense::new(2).named("g_out").apply(&Dense::new(16).activation(Relu).apply(&Dense::new(16).activation(Relu).apply(&gi).unwrap()).unwrap()).unwrap();
    let generator = Model::with_seed(&[gi], &[g], 1).unwrap();
    let d = Dense::new(1).named("d_out").apply(&Dense::new(32).activation(Relu).apply(&Dense::new(32).activation(Relu).apply(&di).unwrap()).unwrap()).unwrap();
    let mut discriminator = Model::with_seed(&[di], &[d], 2).unwrap();
    discriminator.compile(Adam::new(0.001).unwrap().betas(0.5, 0.999).unwrap(), BinaryCrossentropy::new(true), &[]).unwrap();
    let before = mean_and_covariance(&generator.call(&noise(&mut Rng::new(9), 4000), false).unwrap().to_vec());
    discriminator.set_train_step(GanStep { generator, optimizer: Adam::new(0.001).unwrap().betas(0.5, 0.999).unwrap(), rng: Rng::new(8) });
    let history = discriminator.fit(&real, Tensor::zeros(&[4096, 1]), FitOptions { epochs: 100, batch_size: 64, verbose: 0, ..Default::default() }).unwrap();
    assert_eq!(history.get("g_loss").unwrap().len(), 100);
    let step: Box<dyn std::any::Any> = discriminator.take_train_step().unwrap();
    let generator = &step.downcast_ref::<GanStep>().unwrap().generator;
    let (mean, cov) = mean_and_covariance(&generator.call(&noise(&mut Rng::new(9), 4000), false).unwrap().to_vec());
    eprintln!("before: mean {:?} covariance {:?}; after: mean {mean:?} covariance {cov:?} (target mean [2, -1], covariance [1, 0.6, 0.8])", before.0, before.1);
    assert!((mean[0] - 2.0).abs() < 0.25 && (mean[1] + 1.0).abs() < 0.25, "mean {mean:?}");
    for (got, want) in cov.iter().zip([1.0, 0.6, 0.8]) {
        assert!((got - want).abs() < 0.35, "covariance {cov:?}");
    }
}

/// Weights as plain values, to compare two models.
fn values(weights: &[Tensor]) -> Vec<Vec<f32>> {
    weights.iter().map(Tensor::to_vec).collect()
}

/// Models trained at once on several threads of a program that did not put
/// its main thread in the pool: each step runs on a worker, and a worker
/// waiting in one step's parallel loop may run another thread's whole step
/// in between (inside the first's backward pass, which records no graph).
/// Each model ends with the weights it gets trained alone.
#[test]
fn models_trained_on_several_threads_at_once_match_each_trained_alone() {
    let cnn = |seed: u64| {
        let mut m = Sequential::with_seed(seed);
        m.add(Conv2D::new(8, (3, 3)).activation(Relu).input_shape([12, 12, 1])).unwrap();
        m.add(MaxPooling2D::new(2)).unwrap();
        m.add(Flatten::new()).unwrap();
        m.add(Dense::new(3).activation(Softmax)).unwrap();
        m.compile("adam", "categorical_crossentropy", &[]).unwrap();
        m
    };
    let mut r = Rng::new(9);
    let x = Tensor::new((0..64 * 144).map(|_| r.uniform()).collect(), &[64, 12, 12, 1]).unwrap();
    let y = strata::data::mnist::one_hot(&(0..64).map(|_| r.below(3)).collect::<Vec<_>>(), 3).unwrap();
    let train = |seed: u64| {
        let mut m = cnn(seed);
        m.fit(&x, &y, FitOptions { epochs: 3, batch_size: 16, verbose: 0, ..Default::default() }).unwrap();
        values(&m.get_weights())
    };
    let alone: Vec<_> = (0..4).map(train).collect();
    for _ in 0..3 {
        let together: Vec<_> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..4).map(|seed| s.spawn(move || train(seed))).collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(together == alone, "a model trained beside others differs from the same model trained alone");
    }
}
