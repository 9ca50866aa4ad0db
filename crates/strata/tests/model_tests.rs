//! The model API end to end: training the headline CNN, reproducibility, a
//! custom training loop, and clear errors for bad input.

use strata::data::mnist::one_hot;
use strata::prelude::*;
use strata::Rng;

fn tiny_model(seed: u64) -> Sequential {
    let mut m = Sequential::with_seed(seed);
    m.add(Conv2D::new(4, (3, 3)).activation(Relu).input_shape([8, 8, 1])).unwrap();
    m.add(MaxPooling2D::new(2)).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(3).activation(Softmax)).unwrap();
    m
}

fn random_data(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut r = Rng::new(seed);
    let x = Tensor::new((0..n * 64).map(|_| r.uniform()).collect(), &[n, 8, 8, 1]).unwrap();
    let labels: Vec<usize> = (0..n).map(|_| r.below(3)).collect();
    (x, one_hot(&labels, 3).unwrap())
}

#[test]
fn headline_cnn_learns_digits_from_the_bundled_sample() {
    let data = strata::datasets::mnist_sample().unwrap();
    assert_eq!((data.train.len(), data.test.len()), (8000, 2000));
    assert_eq!(data.train.images.shape(), &[8000, 28, 28, 1]);
    let train = data.train.take(3000).unwrap();
    let test = data.test.take(1000).unwrap();
    let mut model = strata::applications::headline_cnn(0).unwrap();
    assert_eq!(model.summary_string().unwrap().matches("60,554").count(), 2);
    let history = model.fit(&train.images, train.one_hot(10).unwrap(), FitOptions { epochs: 2, verbose: 0, ..Default::default() }).unwrap();
    let losses = history.get("loss").unwrap();
    assert!(losses[1] < losses[0], "loss did not fall: {losses:?}");
    let result = model.evaluate(&test.images, test.one_hot(10).unwrap(), 500).unwrap();
    let accuracy = result.get("accuracy").unwrap();
    // Chance is 0.1; two short epochs reach about 0.9.
    assert!(accuracy > 0.8, "test accuracy {accuracy}");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (x, y) = random_data(40, 1);
    let run = |seed| {
        let mut m = tiny_model(seed);
        m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
        let h = m.fit(&x, &y, FitOptions { epochs: 3, batch_size: 8, verbose: 0, ..Default::default() }).unwrap();
        (h.get("loss").unwrap().to_vec(), m.named_weights().iter().map(|(_, t)| t.to_vec()).collect::<Vec<_>>())
    };
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a, b);
    assert_ne!(a.1, c.1);
}

#[test]
fn validation_split_and_predict() {
    let (x, y) = random_data(50, 2);
    let mut m = tiny_model(0);
    m.compile("sgd", "categorical_crossentropy", &["accuracy"]).unwrap();
    let h = m.fit(&x, &y, FitOptions { epochs: 2, validation_split: 0.2, verbose: 0, ..Default::default() }).unwrap();
    assert_eq!(h.get("val_loss").unwrap().len(), 2);
    assert_eq!(h.get("val_accuracy").unwrap().len(), 2);
    let p = m.predict(&x, 7).unwrap();
    assert_eq!(p.shape(), &[50, 3]);
    for row in p.to_vec().chunks(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn sparse_labels_train_like_one_hot() {
    let (x, y) = random_data(24, 3);
    let labels: Vec<f32> = y.to_vec().chunks(3).map(|r| r.iter().position(|&v| v == 1.0).unwrap() as f32).collect();
    let sparse = Tensor::new(labels, &[24]).unwrap();
    let fit = |loss: &str, y: &Tensor| {
        let mut m = tiny_model(9);
        m.compile("adam", loss, &["accuracy"]).unwrap();
        m.fit(&x, y, FitOptions { epochs: 2, batch_size: 6, verbose: 0, ..Default::default() }).unwrap().get("loss").unwrap().to_vec()
    };
    let (a, b) = (fit("categorical_crossentropy", &y), fit("sparse_categorical_crossentropy", &sparse));
    for (a, b) in a.iter().zip(&b) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // Integer labels (as from an int64 .npy) train exactly as their float copy.
    let ids = Tensor::from_i64(sparse.to_vec().iter().map(|&v| v as i64).collect(), &[24]).unwrap();
    assert_eq!(fit("sparse_categorical_crossentropy", &ids), b);
    let bad = Tensor::from_i64((0..24).map(|i| if i == 5 { 3 } else { 0 }).collect(), &[24]).unwrap();
    let mut m = tiny_model(9);
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let e = m.fit(&x, &bad, FitOptions { verbose: 0, shuffle: false, ..Default::default() }).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("label 3 of sample 5"), "{e}");
}

#[test]
fn a_custom_training_loop_is_a_few_lines() {
    // Fit y = 3x - 1 with one Dense unit, plain gradient descent, outside fit().
    let mut model = Sequential::with_seed(0);
    model.add(Dense::new(1).input_shape([1])).unwrap();
    model.build_from_declared().unwrap();
    let x = Tensor::new((0..16).map(|i| i as f32 / 8.0 - 1.0).collect(), &[16, 1]).unwrap();
    let y = x.scale(3.0).add_scalar(-1.0);
    let mut sgd = SGD::new(0.2).unwrap();
    let params = model.trainable_weights();
    for _ in 0..300 {
        let loss = MeanSquaredError.call(&y, &model.call(&x, true).unwrap()).unwrap();
        let grads = loss.backward().unwrap();
        sgd.apply(&params, &grads).unwrap();
    }
    let w = model.named_weights();
    assert!((w[0].1.to_vec()[0] - 3.0).abs() < 1e-3 && (w[1].1.to_vec()[0] + 1.0).abs() < 1e-3, "{w:?}");
}

#[test]
fn layers_are_named_as_keras_names_them() {
    let m = strata::applications::headline_cnn(0).unwrap();
    let names: Vec<String> = m.layers().iter().map(|l| l.name()).collect();
    assert_eq!(names, ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "conv2d_2", "max_pooling2d_2", "flatten", "dense", "dense_1"]);
    let config = m.config();
    assert_eq!(config["layers"][0]["class_name"], "Conv2D");
    assert_eq!(config["layers"][0]["config"]["kernel_size"], serde_json::json!([3, 3]));
    assert_eq!(config["layers"][8]["config"]["activation"], "softmax");
}

fn err_text<T: std::fmt::Debug>(r: strata::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_input_is_reported_with_what_was_wrong() {
    let (x, y) = random_data(10, 4);
    let mut m = tiny_model(0);
    // fit before compile
    assert!(err_text(m.fit(&x, &y, FitOptions::default())).contains("compile"));
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    // batch size 0
    let e = err_text(m.fit(&x, &y, FitOptions { batch_size: 0, ..Default::default() }));
    assert!(e.contains("batch_size"), "{e}");
    // data that does not match the declared input_shape
    let e = err_text(m.predict(Tensor::zeros(&[2, 64]), 2));
    assert!(e.contains("conv2d") && e.contains("(None, 8, 8, 1)") && e.contains("(2, 64)") && e.contains("reshape it to (2, 8, 8, 1)"), "{e}");
    let e = err_text(m.predict(Tensor::zeros(&[2, 8, 8]), 2));
    assert!(e.contains("lacks the channel axis; reshape it to (2, 8, 8, 1)"), "{e}");
    let e = err_text(m.predict(Tensor::zeros(&[8, 8, 1]), 2));
    assert!(e.contains("no batch axis; for one sample, reshape it to (1, 8, 8, 1)"), "{e}");
    m.build_from_declared().unwrap();
    // input of the wrong rank for the first layer
    let flat = Tensor::zeros(&[10, 64]);
    let e = err_text(m.fit(&flat, &y, FitOptions { verbose: 0, ..Default::default() }));
    assert!(e.contains("conv2d") && e.contains("(10, 64)"), "{e}");
    // input of the wrong size for the first layer
    let big = Tensor::zeros(&[10, 9, 9, 1]);
    let e = err_text(m.fit(&big, &y, FitOptions { verbose: 0, ..Default::default() }));
    assert!(e.contains("conv2d") && e.contains("(None, 8, 8, 1)") && e.contains("(10, 9, 9, 1)"), "{e}");
    // x and y of different lengths
    let e = err_text(m.fit(&x, y.gather_rows(&[0, 1]).unwrap(), FitOptions { verbose: 0, ..Default::default() }));
    assert!(e.contains("10 samples") && e.contains("2"), "{e}");
    // targets with the wrong number of classes
    let e = err_text(m.fit(&x, Tensor::zeros(&[10, 4]), FitOptions { verbose: 0, ..Default::default() }));
    assert!(e.contains("(10, 4)") && e.contains("(10, 3)"), "{e}");
    // labels outside the number of classes
    let e = err_text(one_hot(&[0, 5], 3));
    assert!(e.contains("label 5") && e.contains("sample 1"), "{e}");
    let mut sparse = tiny_model(0);
    sparse.compile("adam", "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    let bad = Tensor::new(vec![0.0, 1.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[10]).unwrap();
    let e = err_text(sparse.fit(&x, &bad, FitOptions { verbose: 0, ..Default::default() }));
    assert!(e.contains("label 7") && e.contains("sample 2"), "{e}");
    // NaN in the input
    let mut nan = x.to_vec();
    nan[5] = f32::NAN;
    let e = err_text(m.fit(Tensor::new(nan, x.shape()).unwrap(), &y, FitOptions { verbose: 0, ..Default::default() }));
    assert!(e.contains("not finite"), "{e}");
    // impossible arguments
    assert!(err_text(m.fit(&x, &y, FitOptions { validation_split: 1.5, ..Default::default() })).contains("validation_split"));
    assert!(err_text(m.predict(&x, 0)).contains("batch_size"));
    assert!(err_text(m.compile("adamq", "mse", &[])).contains("unknown optimizer 'adamq'"));
    assert!(err_text(m.compile("adam", "frobnicate", &[])).contains("unknown loss 'frobnicate'"));
    assert!(err_text(SGD::new(-1.0)).contains("learning_rate=-1"));
    // A layer that cannot be built is refused when added, its input shape being known.
    let mut bad_layer = Sequential::with_seed(0);
    assert!(err_text(bad_layer.add(Conv2D::new(0, (3, 3)).input_shape([8, 8, 1]))).contains("filters=0"));
    let mut too_small = Sequential::with_seed(0);
    let e = err_text(too_small.add(Conv2D::new(2, (5, 5)).input_shape([3, 3, 1])));
    assert!(e.contains("conv2d") && e.contains("does not fit"), "{e}");
    assert!(err_text(Sequential::with_seed(0).build_from_declared()).contains("no layers"));
}

#[test]
fn dropout_drops_in_training_only() {
    use strata::layers::Dropout;
    let mut m = Sequential::with_seed(3);
    m.add(Dropout::new(0.25).input_shape([1000])).unwrap();
    m.build_from_declared().unwrap();
    let x = Tensor::full(&[4, 1000], 2.0);
    let y = m.call(&x, true).unwrap().to_vec();
    let dropped = y.iter().filter(|&&v| v == 0.0).count() as f32 / y.len() as f32;
    assert!((dropped - 0.25).abs() < 0.03, "dropped {dropped}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 2.0 / 0.75).abs() < 1e-6));
    assert_eq!(m.call(&x, false).unwrap().to_vec(), x.to_vec());
    let mut again = Sequential::with_seed(3);
    again.add(Dropout::new(0.25).input_shape([1000])).unwrap();
    again.build_from_declared().unwrap();
    assert_eq!(again.call(&x, true).unwrap().to_vec(), y, "the seed fixes the mask");
    // Refused when added (the model is built as layers are added), as Keras refuses it when made.
    let mut bad = Sequential::with_seed(0);
    assert!(bad.add(Dropout::new(1.5).input_shape([3])).unwrap_err().to_string().contains("rate=1.5"));
}

#[test]
fn batch_normalization_counts_as_non_trainable_in_the_summary() {
    use strata::layers::{BatchNormalization, GlobalAveragePooling2D};
    let mut m = Sequential::with_seed(0);
    m.add(Conv2D::new(8, 3).input_shape([8, 8, 1])).unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(GlobalAveragePooling2D::new()).unwrap();
    m.add(Dense::new(2).activation(Softmax)).unwrap();
    let s = m.summary_string().unwrap();
    // conv 80, batch norm 32 (16 non-trainable), dense 18
    assert!(s.contains("Total params: 130") && s.contains("Non-trainable params: 16"), "{s}");
    assert_eq!(m.trainable_weights().len(), 6);
}

#[test]
fn a_relu_convolution_and_its_pooling_run_fused_with_the_same_numbers() {
    // `Sequential::call` runs each relu Conv2D and the MaxPooling2D after it
    // as one op; layer by layer they run as two. Same outputs, bit for bit,
    // and the same gradients, for shapes that leave a remainder row/column.
    let mut model = Sequential::with_seed(3);
    model.add(Conv2D::new(20, (3, 3)).activation(Relu).padding(Padding::Same).input_shape([19, 19, 2])).unwrap();
    model.add(MaxPooling2D::new(2)).unwrap();
    model.add(Conv2D::new(70, (3, 3)).activation(Relu)).unwrap(); // 9x9x20 in: Winograd's forward pass
    model.add(MaxPooling2D::new((2, 1))).unwrap();
    model.add(Conv2D::new(5, (2, 2)).activation(Tanh)).unwrap(); // not relu: never fused
    model.add(MaxPooling2D::new(1)).unwrap();
    model.add(Flatten::new()).unwrap();
    model.build_from_declared().unwrap();
    let mut r = Rng::new(4);
    let x = Tensor::new((0..3 * 19 * 19 * 2).map(|_| r.normal()).collect(), &[3, 19, 19, 2]).unwrap();
    let fused = model.call(&x, true).unwrap();
    let mut h = x.clone();
    for layer in model.layers() {
        h = layer.lock().call(&h, true).unwrap();
    }
    assert_eq!(fused.shape(), h.shape());
    assert_eq!(fused.to_vec(), h.to_vec());
    let weights = Tensor::new((0..h.numel()).map(|i| (i % 5) as f32 - 2.0).collect(), h.shape()).unwrap();
    let (gf, gl) = (fused.mul(&weights).unwrap().sum().backward().unwrap(), h.mul(&weights).unwrap().sum().backward().unwrap());
    for w in model.trainable_weights() {
        for (a, b) in gf.get(&w).unwrap().to_vec().iter().zip(gl.get(&w).unwrap().to_vec()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

/// BatchNormalization's moving statistics change only in training calls (its
/// one in-place state update); inference, evaluate and predict leave them.
#[test]
fn batch_norm_statistics_change_only_when_training() {
    let mut m = Sequential::with_seed(0);
    m.add(Dense::new(4).input_shape([3])).unwrap();
    m.add(strata::layers::BatchNormalization::new()).unwrap();
    m.add(Dense::new(2).activation(Softmax)).unwrap();
    m.compile("sgd", "categorical_crossentropy", &[]).unwrap();
    m.build_from_declared().unwrap();
    let stats = |m: &Sequential| m.named_weights().into_iter().filter(|(n, _)| n.contains("moving")).map(|(_, t)| t.to_vec()).collect::<Vec<_>>();
    let mut r = Rng::new(1);
    let x = Tensor::new((0..24).map(|_| r.normal() * 3.0 + 1.0).collect(), &[8, 3]).unwrap();
    let y = strata::data::mnist::one_hot(&[0, 1, 0, 1, 1, 0, 0, 1], 2).unwrap();
    let before = stats(&m);
    m.call(&x, false).unwrap();
    m.predict(&x, 4).unwrap();
    m.evaluate(&x, &y, 4).unwrap();
    assert_eq!(stats(&m), before);
    m.fit(&x, &y, FitOptions { verbose: 0, ..Default::default() }).unwrap();
    assert_ne!(stats(&m), before);
}

#[test]
fn wrappers_refuse_what_they_cannot_wrap() {
    use strata::layers::{Bidirectional, MergeMode, TimeDistributed, GRU, LSTM};
    let add_error = |layer: Box<dyn FnOnce(&mut Sequential) -> strata::Result<()>>| {
        let mut m = Sequential::new();
        layer(&mut m).and_then(|_| m.build_from_declared()).unwrap_err().to_string()
    };
    let e = add_error(Box::new(|m| m.add(Bidirectional::new(Dense::new(3)).input_shape([5, 2]))));
    assert!(e.contains("Bidirectional wraps a recurrent layer") && e.contains("Dense"), "{e}");
    let e = add_error(Box::new(|m| m.add(Bidirectional::new(LSTM::new(3)).backward_layer(GRU::new(3)).input_shape([5, 2]))));
    assert!(e.contains("must differ in go_backwards"), "{e}");
    let e = add_error(Box::new(|m| m.add(Bidirectional::new(GRU::new(3).return_sequences(true)).backward_layer(GRU::new(3).go_backwards(true)).input_shape([5, 2]))));
    assert!(e.contains("must agree on return_sequences"), "{e}");
    let e = add_error(Box::new(|m| m.add(TimeDistributed::new(Dense::new(3)).input_shape([5]))));
    assert!(e.contains("time_distributed") && e.contains("at least 3D"), "{e}");
    let e = strata::io::keras_config::layer_from_config("Bidirectional", &serde_json::json!({"merge_mode": "max", "layer": {"class_name": "LSTM", "config": {"units": 2}}})).err().unwrap().to_string();
    assert!(e.contains("unknown merge_mode \"max\""), "{e}");
    let e = strata::io::keras_config::layer_from_config("TimeDistributed", &serde_json::json!({"name": "td"})).err().unwrap().to_string();
    assert!(e.contains("td") && e.contains("no 'layer'"), "{e}");
    // Initial states: both directions' or none.
    let mut bi = Bidirectional::new(LSTM::new(3)).merge_mode(MergeMode::Sum);
    let e = strata::layers::Layer::build_many(&mut bi, &[vec![5, 2], vec![3], vec![3]], &mut strata::Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("4 initial states"), "{e}");
}

#[test]
fn attention_refuses_bad_inputs_and_its_dropout_is_seeded() {
    use strata::layers::{Layer, MultiHeadAttention};
    let build = |mut layer: MultiHeadAttention, shapes: &[Vec<usize>]| layer.build_many(shapes, &mut Rng::new(0)).map(|_| layer);
    let e = build(MultiHeadAttention::new(2, 3), &[vec![4, 6]]).err().unwrap().to_string();
    assert!(e.contains("query and value (2 inputs), got 1"), "{e}");
    let e = build(MultiHeadAttention::new(2, 3).attention_mask_input(true), &[vec![4, 6], vec![5, 6], vec![5, 4]]).err().unwrap().to_string();
    assert!(e.contains("attention mask must be (batch, 4, 5), got (None, 5, 4)"), "{e}");
    let e = build(MultiHeadAttention::new(2, 3).key_input(true), &[vec![4, 6], vec![5, 6], vec![3, 6]]).err().unwrap().to_string();
    assert!(e.contains("as many steps, got 3 and 5"), "{e}");
    let e = build(MultiHeadAttention::new(0, 3), &[vec![4, 6], vec![4, 6]]).err().unwrap().to_string();
    assert!(e.contains("positive num_heads"), "{e}");
    let e = build(MultiHeadAttention::new(2, 3).dropout(1.0), &[vec![4, 6], vec![4, 6]]).err().unwrap().to_string();
    assert!(e.contains("dropout must be in [0, 1)"), "{e}");
    let layer = build(MultiHeadAttention::new(2, 3), &[vec![4, 6], vec![4, 6]]).unwrap();
    let e = layer.call_many(&[Tensor::zeros(&[2, 4, 6]), Tensor::zeros(&[2, 4, 5])], false).unwrap_err().to_string();
    assert!(e.contains("the value must be (None, 4, 6), got (2, 4, 5)"), "{e}");
    for (config, expected) in [
        (serde_json::json!({"num_heads": 2, "key_dim": 3, "use_gate": true}), "use_gate"),
        (serde_json::json!({"num_heads": 2, "key_dim": 3, "attention_axes": [1, 2]}), "attention_axes"),
        (serde_json::json!({"num_heads": 2, "key_dim": 3, "sliding_window": 4}), "sliding_window"),
        (serde_json::json!({"num_heads": 2}), "key_dim"),
    ] {
        let e = strata::io::keras_config::layer_from_config("MultiHeadAttention", &config).err().unwrap().to_string();
        assert!(e.contains(expected), "{config}: {e}");
    }
    // Dropout on the attention weights: only in training, the same draws from the same seed.
    let x = Tensor::new((0..2 * 4 * 6).map(|i| (i as f32 * 0.37).sin()).collect(), &[2, 4, 6]).unwrap();
    let run = || {
        let layer = build(MultiHeadAttention::new(2, 3).dropout(0.5).seed(7), &[vec![4, 6], vec![4, 6]]).unwrap();
        let train = layer.call_many(&[x.clone(), x.clone()], true).unwrap().remove(0).to_vec();
        let infer = layer.call_many(&[x.clone(), x.clone()], false).unwrap().remove(0).to_vec();
        (train, infer)
    };
    let ((a, infer), (b, _)) = (run(), run());
    assert_eq!(a, b);
    assert_ne!(a, infer);
}

#[test]
fn recurrent_dropout_is_seeded_checkpointed_and_off_in_inference() {
    use strata::layers::{Bidirectional, Layer, GRU, LSTM, SimpleRNN};
    let x = Tensor::new((0..4 * 6 * 2).map(|i| ((i as f32) * 0.37).cos()).collect(), &[4, 6, 2]).unwrap();
    let make = |seed: u64| -> Vec<Box<dyn Layer>> {
        vec![
            Box::new(LSTM::new(3).recurrent_dropout(0.5).dropout(0.2).seed(seed)),
            Box::new(GRU::new(3).recurrent_dropout(0.5).seed(seed)),
            Box::new(GRU::new(3).recurrent_dropout(0.5).dropout(0.2).seed(seed).reset_after(false)),
            Box::new(SimpleRNN::new(3).recurrent_dropout(0.5).seed(seed).return_sequences(true)),
            Box::new(Bidirectional::new(LSTM::new(3).recurrent_dropout(0.5).seed(seed))),
        ]
    };
    for (mut a, mut b) in make(7).into_iter().zip(make(7)) {
        a.build(&[6, 2], &mut Rng::new(1)).unwrap();
        b.build(&[6, 2], &mut Rng::new(1)).unwrap();
        let name = a.class_name();
        let infer = a.call(&x, false).unwrap().to_vec();
        assert_eq!(infer, b.call(&x, false).unwrap().to_vec(), "{name}: inference is deterministic");
        // A checkpoint of the stream replays the same masks.
        let saved = a.random_streams();
        let first = a.call(&x, true).unwrap().to_vec();
        assert_ne!(first, infer, "{name}: training drops units");
        assert_eq!(first, b.call(&x, true).unwrap().to_vec(), "{name}: the same seed gives the same masks");
        assert_ne!(a.call(&x, true).unwrap().to_vec(), first, "{name}: each call draws new masks");
        a.set_random_streams(&saved).unwrap();
        assert_eq!(a.call(&x, true).unwrap().to_vec(), first, "{name}: restored stream");
        let config = a.config();
        let again = strata::io::keras_config::layer_from_config(name, &config).unwrap();
        assert_eq!(again.config(), config, "{name}: config round trip");
    }
    // A model with recurrent dropout trains, and gives the same losses for the same seed.
    let y = Tensor::new((0..4).map(|i| (i % 2) as f32).collect(), &[4, 1]).unwrap();
    let losses = || {
        let mut model = Sequential::with_seed(3);
        model.add(LSTM::new(5).recurrent_dropout(0.3).dropout(0.1).input_shape([6, 2])).unwrap();
        model.add(Dense::new(1)).unwrap();
        model.compile("adam", "mse", &[]).unwrap();
        model.fit(&x, &y, FitOptions { epochs: 3, batch_size: 2, verbose: 0, ..Default::default() }).unwrap().get("loss").unwrap().to_vec()
    };
    let (one, two) = (losses(), losses());
    assert!(one.iter().all(|l| l.is_finite()), "{one:?}");
    assert_eq!(one, two);
}

#[test]
fn recurrent_dropout_masks_whole_sequences_of_a_feature_in_training_only() {
    use strata::layers::{Layer, GRU, LSTM, SimpleRNN};
    // One input feature: each sample's sequence is kept (scaled by 1 / (1 - rate)) or dropped whole.
    let x = Tensor::new((0..8 * 5).map(|i| ((i as f32) * 0.7).sin()).collect(), &[8, 5, 1]).unwrap();
    let layers: Vec<Box<dyn Layer>> = vec![Box::new(LSTM::new(3).dropout(0.5).seed(4)), Box::new(GRU::new(3).dropout(0.5).seed(4)), Box::new(SimpleRNN::new(3).dropout(0.5).seed(4))];
    for mut layer in layers {
        layer.build(&[5, 1], &mut Rng::new(1)).unwrap();
        let train = layer.call(&x, true).unwrap().to_vec();
        let kept = layer.call(&x.scale(2.0), false).unwrap().to_vec();
        let dropped = layer.call(&x.scale(0.0), false).unwrap().to_vec();
        let (mut n_kept, mut n_dropped) = (0, 0);
        for s in 0..8 {
            let row = |v: &[f32]| v[s * 3..s * 3 + 3].to_vec();
            if row(&train) == row(&kept) {
                n_kept += 1;
            } else {
                assert_eq!(row(&train), row(&dropped), "{}: sample {s} neither kept nor dropped whole", layer.class_name());
                n_dropped += 1;
            }
        }
        assert!(n_kept > 0 && n_dropped > 0, "{}: {n_kept} kept, {n_dropped} dropped", layer.class_name());
        assert_eq!(layer.call(&x, false).unwrap().to_vec(), layer.call(&x, false).unwrap().to_vec());
        let config = layer.config();
        assert_eq!((config["dropout"].as_f64(), config["seed"].as_u64()), (Some(0.5), Some(4)));
        let again = strata::io::keras_config::layer_from_config(layer.class_name(), &config).unwrap();
        assert_eq!(again.config(), config);
    }
    let e = GRU::new(2).recurrent_dropout(1.0).build(&[5, 1], &mut Rng::new(1)).unwrap_err().to_string();
    assert!(e.contains("recurrent_dropout=1"), "{e}");
}
