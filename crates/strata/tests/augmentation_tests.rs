//! Augmentation and preprocessing layers beyond the Keras fixtures: they
//! vanish at inference, draw reproducibly from seeded streams that
//! checkpoints resume, refuse bad arguments by name, and run on a
//! dataset's reading thread.

mod common;

use std::path::PathBuf;

use strata::data::dataset::Dataset;
use strata::data::mnist::one_hot;
use strata::layers::{CenterCrop, GaussianDropout, GaussianNoise, Normalization, RandomBrightness, RandomContrast, RandomCrop};
use strata::layers::{RandomFlip, RandomRotation, RandomTranslation, RandomZoom, Rescaling, Resizing, UpSampling2D};
use strata::prelude::*;
use strata::Rng;

fn temp(name: &str) -> PathBuf {
    common::temp_file("augment", name)
}

fn images(n: usize, seed: u64) -> Tensor {
    let mut r = Rng::new(seed);
    Tensor::new((0..n * 8 * 8).map(|_| r.uniform()).collect(), &[n, 8, 8, 1]).unwrap()
}

fn augmentations() -> Vec<Box<dyn Layer>> {
    vec![
        Box::new(RandomFlip::new("horizontal_and_vertical")),
        Box::new(RandomRotation::new(0.1).fill_mode("wrap")),
        Box::new(RandomZoom::new(0.2).width_factor((-0.1, 0.3)).fill_mode("constant").fill_value(0.5)),
        Box::new(RandomTranslation::new(0.1, 0.2).interpolation("nearest").fill_mode("nearest")),
        Box::new(RandomContrast::new(0.3).value_range(0.0, 1.0)),
        Box::new(RandomBrightness::new(0.2).value_range(0.0, 1.0)),
        Box::new(GaussianNoise::new(0.1)),
        Box::new(GaussianDropout::new(0.2)),
    ]
}

fn model(seed: u64) -> Sequential {
    let mut m = Sequential::with_seed(seed);
    m.add(Rescaling::new(2.0).offset(-1.0).input_shape([8, 8, 1])).unwrap();
    for layer in augmentations() {
        m.push(layer).unwrap();
    }
    m.add(Conv2D::new(4, 3).activation(Relu)).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

#[test]
fn augmentations_change_images_in_training_only() {
    let x = images(4, 1);
    for mut layer in augmentations() {
        layer.build(&[8, 8, 1], &mut Rng::new(3)).unwrap();
        assert_eq!(layer.call(&x, false).unwrap().to_vec(), x.to_vec(), "{}: inference passes images through", layer.class_name());
        let y = layer.call(&x, true).unwrap();
        assert_eq!(y.shape(), x.shape());
        assert_ne!(y.to_vec(), x.to_vec(), "{}: training changes images", layer.class_name());
        assert!(y.all_finite());
    }
    // Random crops: a window of the image in training, the centre at inference.
    let mut crop = RandomCrop::new(5, 6);
    crop.build(&[8, 8, 1], &mut Rng::new(3)).unwrap();
    let mut centre = CenterCrop::new(5, 6);
    centre.build(&[8, 8, 1], &mut Rng::new(3)).unwrap();
    assert_eq!(crop.call(&x, false).unwrap().to_vec(), centre.call(&x, false).unwrap().to_vec());
    let cut = crop.call(&x, true).unwrap();
    assert_eq!(cut.shape(), [4, 5, 6, 1]);
    let (xs, cs) = (x.to_vec(), cut.to_vec());
    let found = (0..=3).any(|t| (0..=2).any(|l| (0..5).all(|r| (0..6).all(|c| cs[r * 6 + c] == xs[(t + r) * 8 + l + c]))));
    assert!(found, "the crop is a window of the image");
}

#[test]
fn a_seeded_model_augments_reproducibly_and_resumes_bit_identically() {
    let x = images(24, 5);
    let y = one_hot(&(0..24).map(|i| i % 3).collect::<Vec<_>>(), 3).unwrap();
    let fit = |m: &mut Sequential, epochs: usize| {
        let initial_epoch = m.epochs_trained();
        m.fit(&x, &y, FitOptions { epochs, batch_size: 8, verbose: 0, initial_epoch, ..Default::default() }).unwrap();
    };
    let weights = |m: &Sequential| m.named_weights().into_iter().map(|(n, t)| (n, t.to_vec())).collect::<Vec<_>>();
    let (mut a, mut b) = (model(4), model(4));
    fit(&mut a, 3);
    fit(&mut b, 3);
    assert_eq!(weights(&a), weights(&b), "same seed, same augmentations, same weights");
    let mut c = model(5);
    fit(&mut c, 3);
    assert_ne!(weights(&a), weights(&c));
    // Interrupted after one epoch and resumed from the file: the streams continue.
    let mut first = model(4);
    fit(&mut first, 1);
    let path = temp("augmented.safetensors");
    first.save(&path).unwrap();
    let mut resumed = Sequential::load(&path).unwrap();
    fit(&mut resumed, 3);
    assert_eq!(weights(&resumed), weights(&a));
    // The layers' configs read back (seeds included).
    let json = resumed.to_json();
    assert!(json.to_string().contains("\"RandomRotation\"") && json.to_string().contains("\"fill_mode\":\"wrap\""));
}

#[test]
fn a_dataset_augments_on_its_reading_thread() {
    let x = images(40, 7);
    let y = one_hot(&(0..40).map(|i| i % 3).collect::<Vec<_>>(), 3).unwrap();
    let data = || Dataset::from_arrays(x.clone(), y.clone()).unwrap().batch_size(8).augment(augmentations(), 9).unwrap();
    let epoch = |d: &Dataset, e: usize| -> Vec<f32> { d.training_batches((0..40).collect(), e).unwrap().flat_map(|b| b.unwrap().inputs[0].to_vec()).collect() };
    let d = data();
    assert_eq!(epoch(&d, 0), epoch(&data(), 0), "one seed, one epoch: the same draws");
    assert_ne!(epoch(&d, 0), epoch(&d, 1), "each epoch draws anew");
    assert_ne!(epoch(&d, 0), x.to_vec());
    let plain: Vec<f32> = d.batches((0..40).collect()).unwrap().flat_map(|b| b.unwrap().inputs[0].to_vec()).collect();
    assert_eq!(plain, x.to_vec(), "evaluation batches are not augmented");
    let (train, validation) = data().split(0.25).unwrap();
    let v: Vec<f32> = validation.training_batches((0..10).collect(), 0).unwrap().flat_map(|b| b.unwrap().inputs[0].to_vec()).collect();
    assert_eq!(v, x.to_vec()[30 * 64..], "validation data is never augmented");
    let mut m = model(1);
    m.fit_dataset(&train, FitOptions { epochs: 2, verbose: 0, ..Default::default() }).unwrap();
    // A shape-changing augmentation belongs in the model.
    let err = Dataset::from_arrays(x.clone(), y.clone()).unwrap().augment(vec![Box::new(Resizing::new(4, 4))], 1).err().unwrap().to_string();
    assert!(err.contains("keep the shape"), "{err}");
}

#[test]
fn bad_arguments_are_named() {
    let build = |mut layer: Box<dyn Layer>, shape: &[usize]| -> String {
        match layer.base().check().and_then(|_| layer.build(shape, &mut Rng::new(0))) {
            Ok(_) => panic!("{} built", layer.class_name()),
            Err(e) => e.to_string(),
        }
    };
    let cases: Vec<(Box<dyn Layer>, &[usize], &[&str])> = vec![
        (Box::new(RandomZoom::new(1.5)), &[8, 8, 1], &["height_factor", "1.5"]),
        (Box::new(RandomTranslation::new(0.1, -2.0)), &[8, 8, 1], &["width_factor", "-2"]),
        (Box::new(RandomRotation::new(0.1).fill_mode("mirror")), &[8, 8, 1], &["fill_mode", "mirror"]),
        (Box::new(RandomRotation::new(0.1).interpolation("bicubic")), &[8, 8, 1], &["interpolation", "bicubic"]),
        (Box::new(RandomFlip::new("diagonal")), &[8, 8, 1], &["mode", "diagonal"]),
        (Box::new(RandomContrast::new((1.5, 2.0))), &[8, 8, 1], &["factor", "1.5"]),
        (Box::new(RandomBrightness::new(0.1).value_range(1.0, 0.0)), &[8, 8, 1], &["value_range"]),
        (Box::new(RandomRotation::new(0.1)), &[8, 8], &["random_rotation", "(height, width, channels)"]),
        (Box::new(GaussianNoise::new(2.0)), &[8], &["stddev", "2"]),
        (Box::new(GaussianDropout::new(-0.1)), &[8], &["rate", "-0.1"]),
        (Box::new(Resizing::new(0, 4)), &[8, 8, 1], &["height=0"]),
        (Box::new(RandomCrop::new(4, 0)), &[8, 8, 1], &["width=0"]),
        (Box::new(Rescaling::new(f32::NAN)), &[8, 8, 1], &["scale"]),
        (Box::new(Normalization::new().mean_variance(vec![0.0, 1.0], vec![1.0])), &[8, 8, 3], &["mean has 2 values"]),
        (Box::new(Normalization::new().mean_variance(vec![0.0], vec![-1.0])), &[8, 8, 3], &["variance"]),
        (Box::new(Normalization::new().axis(&[0])), &[8, 8, 3], &["axis 0"]),
        (Box::new(UpSampling2D::new(2).interpolation("area")), &[8, 8, 1], &["interpolation", "area"]),
        (Box::new(Conv2DTranspose::new(4, 3).strides(2).output_padding((2, 0))), &[8, 8, 1], &["output padding", "(2, 0)"]),
        (Box::new(Conv2DTranspose::new(4, 3).strides(2).dilation_rate(2)), &[8, 8, 1], &["dilation_rate"]),
        (Box::new(Conv2DTranspose::new(4, 2).padding("same").output_padding((0, 0))), &[8, 8, 1], &["output_padding"]),
    ];
    for (layer, shape, expected) in cases {
        let err = build(layer, shape);
        for e in expected {
            assert!(err.contains(e), "{err:?} should name {e:?}");
        }
    }
    let mut norm = Normalization::new().mean_variance(vec![0.0], vec![1.0]);
    assert!(norm.adapt(&images(4, 1)).unwrap_err().to_string().contains("fixed mean"));
    let mut norm = Normalization::new();
    let nan = Tensor::new(vec![f32::NAN; 4], &[4, 1]).unwrap();
    assert!(norm.adapt(&nan).unwrap_err().to_string().contains("NaN"));
    let mut dense = Dense::new(2);
    assert!(dense.adapt(&images(4, 1)).unwrap_err().to_string().contains("no adapt"));
}

#[test]
fn an_adapted_normalization_saves_its_statistics() {
    let x = images(16, 3);
    let mut norm = Normalization::new();
    norm.adapt(&x.scale(10.0).add_scalar(3.0)).unwrap();
    let mut m = Sequential::with_seed(1);
    m.add(norm.input_shape([8, 8, 1])).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(2)).unwrap();
    m.compile("adam", "mse", &[]).unwrap();
    let out = m.predict(x.scale(10.0).add_scalar(3.0), 16).unwrap();
    let path = temp("normalized.safetensors");
    m.save(&path).unwrap();
    let mut back = Sequential::load(&path).unwrap();
    assert_eq!(back.predict(x.scale(10.0).add_scalar(3.0), 16).unwrap().to_vec(), out.to_vec());
    let stats: Vec<String> = back.named_weights().into_iter().map(|(n, _)| n).collect();
    assert!(stats.contains(&"normalization/mean".to_string()) && stats.contains(&"normalization/count".to_string()), "{stats:?}");
}

#[test]
fn whole_pixel_moves_are_exact() {
    // A 4x5 image shifted one row down and two columns left (fixed factors), nearest and bilinear alike.
    let x = Tensor::new((0..40).map(|v| v as f32).collect(), &[2, 4, 5, 1]).unwrap();
    for interpolation in ["nearest", "bilinear"] {
        let mut layer = RandomTranslation::new((0.25, 0.25), (-0.4, -0.4)).fill_mode("constant").fill_value(-1.0).interpolation(interpolation);
        layer.build(&[4, 5, 1], &mut Rng::new(1)).unwrap();
        let y = layer.call(&x, true).unwrap().to_vec();
        for b in 0..2 {
            for r in 0..4 {
                for c in 0..5 {
                    let expected = if r >= 1 && c + 2 < 5 { (b * 20 + (r - 1) * 5 + c + 2) as f32 } else { -1.0 };
                    assert_eq!(y[b * 20 + r * 5 + c], expected, "{interpolation}: image {b}, row {r}, column {c}");
                }
            }
        }
    }
    // A flip reverses the columns exactly.
    let mut flip = RandomFlip::new("horizontal");
    flip.build(&[4, 5, 1], &mut Rng::new(2)).unwrap();
    let xs = x.to_vec();
    for _ in 0..4 {
        let y = flip.call(&x, true).unwrap().to_vec();
        for b in 0..2 {
            let image = &y[b * 20..(b + 1) * 20];
            let same = image == &xs[b * 20..(b + 1) * 20];
            let flipped = (0..20).all(|i| image[i] == xs[b * 20 + (i / 5) * 5 + 4 - i % 5]);
            assert!(same || flipped, "image {b}: {image:?}");
        }
    }
}
