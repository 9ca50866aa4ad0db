//! Data-parallel training equals training in one process: N ranks (threads
//! of this process, `LocalGroup`; `mpirun` runs the same code with MPI in
//! the CLI's tests) train the weights one process trains with the same
//! global batch, for the headline CNN, a model with BatchNormalization and
//! Dropout, and a functional model; uneven batches; resuming on another
//! number of ranks; refusals.

use std::sync::Arc;

use strata::distributed::{all_reduce_sum, Collective, LocalGroup};
use strata::layers::{BatchNormalization, Dropout, MaxPooling2D};
use strata::model::Model;
use strata::prelude::*;
use strata::Rng;

mod common;

/// Synthetic 12x12 images, a class each (the brightest quadrant).
fn images(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut r = Rng::new(seed);
    let mut x = Vec::with_capacity(n * 144);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let class = r.below(4);
        labels.push(class);
        for i in 0..144 {
            let (row, col) = (i / 12, i % 12);
            let quadrant = (row / 6) * 2 + col / 6;
            x.push(r.uniform() * 0.5 + if quadrant == class { 0.5 } else { 0.0 });
        }
    }
    (Tensor::new(x, &[n, 12, 12, 1]).unwrap(), strata::data::mnist::one_hot(&labels, 4).unwrap())
}

fn with_norm_and_dropout(seed: u64) -> Model {
    let mut m = Sequential::with_seed(seed);
    // No bias before BatchNormalization (its gradient is rounding noise there, which Adam would magnify).
    m.add(Conv2D::new(6, 3).use_bias(false).input_shape([12, 12, 1])).unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(strata::layers::Activation::new(Relu)).unwrap();
    m.add(MaxPooling2D::new(2)).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dropout::new(0.3)).unwrap();
    m.add(Dense::new(4).activation(Softmax)).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    m.into_model()
}

fn functional(seed: u64) -> Model {
    let x = Input::new([12, 12, 1]);
    let a = Conv2D::new(4, 3).activation("relu").apply(&x).unwrap();
    let b = Conv2D::new(4, 3).activation("tanh").apply(&x).unwrap();
    let sum = Add::new().apply([&a, &b]).unwrap();
    let flat = Flatten::new().apply(&sum).unwrap();
    let y = Dense::new(4).activation("softmax").apply(&flat).unwrap();
    let mut m = Model::with_seed(&[x], &[y], seed).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

fn headline(seed: u64) -> Model {
    strata::applications::headline_cnn(seed).unwrap().into_model()
}

fn mnist(n: usize) -> (Tensor, Tensor) {
    let data = strata::datasets::mnist_sample().unwrap();
    let train = data.train.take(n).unwrap();
    (train.images.clone(), train.one_hot(10).unwrap())
}

fn options(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions { epochs, batch_size, verbose: 0, ..Default::default() }
}

fn weights(m: &Model) -> Vec<(String, Vec<f32>)> {
    m.named_weights().into_iter().map(|(n, t)| (n, t.to_vec())).collect()
}

/// The largest difference of any weight, relative to the largest magnitude of its tensor.
fn worst_relative(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> (f32, String) {
    let mut worst = (0.0f32, String::new());
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let scale = y.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let d = x.iter().zip(y).fold(0.0f32, |m, (p, q)| m.max((p - q).abs())) / scale;
        if d > worst.0 {
            worst = (d, name.clone());
        }
    }
    worst
}

/// Trains `make(seed)` on (x, y) alone and on `ranks` ranks; checks that
/// every rank ends with the same bits and within 1e-5 of one process.
fn check_equal(what: &str, make: fn(u64) -> Model, (x, y): (Tensor, Tensor), epochs: usize, batch: usize, ranks: usize) {
    let mut alone = make(7);
    let h1 = alone.fit(&x, &y, options(epochs, batch)).unwrap();
    let results = LocalGroup::run(ranks, |group| {
        let mut m = make(7);
        m.set_collective(group);
        let h = m.fit(&x, &y, options(epochs, batch)).unwrap();
        (weights(&m), h.history)
    });
    for (rank, (w, _)) in results.iter().enumerate().skip(1) {
        assert!(w == &results[0].0, "{what}: rank {rank}'s weights differ from rank 0's");
    }
    let (worst, name) = worst_relative(&results[0].0, &weights(&alone));
    eprintln!("{what}, {ranks} ranks: largest weight difference from one process {worst:.2e} of the tensor's scale ({name})");
    assert!(worst < 1e-5, "{what}, {ranks} ranks: {name} differs by {worst:.2e}");
    for (key, one) in &h1.history {
        let many = &results[0].1[key];
        for (a, b) in one.iter().zip(many) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{what}, {ranks} ranks: {key} logged {b} against {a}");
        }
    }
}

#[test]
fn ranks_train_the_headline_cnn_as_one_process() {
    for ranks in [2, 4] {
        check_equal("headline CNN", headline, mnist(192), 1, 64, ranks);
    }
}

#[test]
fn ranks_train_batch_norm_and_dropout_as_one_process() {
    // 70 samples in batches of 32 over 3 ranks: shares of 10, 11, 11 and a last batch of 6 (2 each).
    for ranks in [2, 3, 4] {
        check_equal("BatchNormalization + Dropout", with_norm_and_dropout, images(70, 1), 2, 32, ranks);
    }
}

#[test]
fn ranks_train_a_functional_model_as_one_process() {
    check_equal("functional", functional, images(64, 2), 2, 16, 2);
    check_equal("functional", functional, images(70, 2), 1, 32, 3);
}

#[test]
fn a_checkpoint_resumes_on_another_number_of_ranks() {
    let (x, y) = images(64, 3);
    let dir = common::temp_dir("distributed_resume");
    let path = dir.join("after_epoch_1.safetensors");
    let mut straight = with_norm_and_dropout(5);
    straight.fit(&x, &y, options(2, 16)).unwrap();
    LocalGroup::run(2, |group| {
        let mut m = with_norm_and_dropout(5);
        m.set_collective(group.clone());
        m.fit(&x, &y, options(1, 16)).unwrap();
        if group.rank() == 0 {
            m.save(&path).unwrap();
        }
    });
    for ranks in [1, 4] {
        let results = LocalGroup::run(ranks, |group| {
            let mut m = Model::load(&path).unwrap();
            m.set_collective(group);
            let first = m.epochs_trained();
            m.fit(&x, &y, FitOptions { initial_epoch: first, ..options(2, 16) }).unwrap();
            weights(&m)
        });
        let (worst, name) = worst_relative(&results[0], &weights(&straight));
        eprintln!("resumed on {ranks} rank(s): largest difference from the uninterrupted run {worst:.2e} ({name})");
        assert!(worst < 1e-5, "resumed on {ranks} rank(s): {name} differs by {worst:.2e}");
    }
}

#[test]
fn ranks_started_differently_are_refused() {
    let (x, y) = images(64, 4);
    let errors = LocalGroup::run(2, |group| {
        let mut m = with_norm_and_dropout(0);
        let rank = group.rank();
        m.set_collective(group);
        // Rank 1 was given other data.
        let x = if rank == 1 { x.scale(2.0) } else { x.clone() };
        m.fit(&x, &y, options(1, 16)).unwrap_err().to_string()
    });
    for e in &errors {
        assert!(e.contains("rank 1") && e.contains("training data"), "{e}");
    }
    let errors = LocalGroup::run(4, |group| {
        let mut m = with_norm_and_dropout(0);
        m.set_collective(group);
        // 62 samples in batches of 20 leave a batch of 2 for 4 ranks.
        m.fit(x.narrow(0, 0, 62).unwrap(), y.narrow(0, 0, 62).unwrap(), options(1, 20)).unwrap_err().to_string()
    });
    assert!(errors[0].contains("batch_size") && errors[0].contains("a batch of 2"), "{}", errors[0]);
}

#[test]
fn the_sum_across_ranks_is_the_same_bits_everywhere() {
    let sums = LocalGroup::run(3, |group| {
        let mut r = Rng::new(group.rank() as u64);
        let data: Vec<f32> = (0..1001).map(|_| r.normal()).collect();
        all_reduce_sum(group.as_ref(), &data).unwrap()
    });
    let expected: Vec<f32> = (0..1001)
        .map(|i| {
            (0..3u64).fold(0.0f32, |s, rank| {
                let mut r = Rng::new(rank);
                s + (0..=i).map(|_| r.normal()).last().unwrap()
            })
        })
        .collect();
    for s in &sums {
        assert_eq!(s, &expected);
    }
}

#[test]
fn a_rank_that_leaves_fails_the_others_calls() {
    let results = LocalGroup::run(2, |group: Arc<dyn Collective>| if group.rank() == 1 { Ok(vec![]) } else { group.all_gather(&[1.0]) });
    let e = results[0].as_ref().unwrap_err().to_string();
    assert!(e.contains("rank 1 left"), "{e}");
}
