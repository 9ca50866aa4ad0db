//! Masks end to end: what a masked step does to the recurrent layers (no
//! Keras needed: a padded sequence must give what the sequence without its
//! padding gives), and clear errors where masks are not supported.

use strata::layers::{BatchNormalization, Embedding, Layer, Masking, Multiply, GRU, LSTM, SimpleRNN};
use strata::prelude::*;
use strata::DType;

/// The last output of `Embedding(9, 4, mask_zero) -> layer` on one sequence of ids.
fn last_output(layer: impl Layer + 'static, ids: &[i32], mask_zero: bool) -> Vec<f32> {
    let mut model = Sequential::with_seed(5);
    model.add(Embedding::new(9, 4).mask_zero(mask_zero).input_shape([ids.len()])).unwrap();
    model.add(layer).unwrap();
    model.predict(Tensor::from_i32(ids.to_vec(), &[1, ids.len()]).unwrap(), 8).unwrap().to_vec()
}

fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-6, "{what}: {a:?} vs {b:?}");
    }
}

/// A masked step leaves the states as they were: padding at the end, at the
/// start or between the tokens gives the output of the tokens alone, for
/// every cell and read backwards too.
#[test]
fn padding_is_skipped_wherever_it_is() {
    let tokens = [3, 1, 4];
    let padded: [(&str, [i32; 6]); 3] = [("end", [3, 1, 4, 0, 0, 0]), ("start", [0, 0, 0, 3, 1, 4]), ("inside", [3, 0, 1, 0, 0, 4])];
    let cells = ["LSTM", "LSTM backwards", "GRU", "GRU reset_after=False", "SimpleRNN"];
    let run = |cell: &str, mask_zero: bool, ids: &[i32]| match cell {
        "LSTM" => last_output(LSTM::new(5), ids, mask_zero),
        "LSTM backwards" => last_output(LSTM::new(5).go_backwards(true), ids, mask_zero),
        "GRU" => last_output(GRU::new(5), ids, mask_zero),
        "GRU reset_after=False" => last_output(GRU::new(5).reset_after(false), ids, mask_zero),
        _ => last_output(SimpleRNN::new(5), ids, mask_zero),
    };
    for cell in cells {
        let alone = run(cell, false, &tokens);
        for (where_, ids) in &padded {
            assert_close(&format!("{cell}, padding at the {where_}"), &run(cell, true, ids), &alone);
            // Without the mask the padding is read as tokens: a different output.
            assert_ne!(run(cell, false, ids), alone, "{cell}, padding at the {where_}, unmasked");
        }
    }
}

/// Masking marks the steps whose features are all its value; an
/// all-padding sequence keeps the initial (zero) state and outputs zeros.
#[test]
fn masking_layer_masks_steps_of_its_value() {
    let mut model = Sequential::with_seed(1);
    model.add(Masking::new(-1.0).input_shape([4, 2])).unwrap();
    model.add(LSTM::new(3).return_sequences(true)).unwrap();
    let x = Tensor::new(vec![0.5, 0.2, -1.0, -1.0, 0.1, -1.0, -1.0, -1.0, /* all padding: */ -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0], &[2, 4, 2]).unwrap();
    let y = model.predict(&x, 8).unwrap().to_vec();
    // Step 1 is masked: its output repeats step 0's; step 3 repeats step 2's.
    assert_eq!(y[3..6], y[0..3]);
    assert_eq!(y[9..12], y[6..9]);
    assert_ne!(y[6..9], y[0..3]);
    assert!(y[12..].iter().all(|&v| v == 0.0), "{:?}", &y[12..]);
}

fn err_text<T>(r: strata::Result<T>) -> String {
    r.err().map(|e| e.to_string()).expect("an error")
}

/// Keras's rules for masked values, by hand: Multiply counts a masked value
/// as 1 (and zeroes steps no input keeps when all are masked); Maximum and
/// Minimum take the other input's value where one is masked.
#[test]
fn multiply_maximum_and_minimum_keep_masked_values_out() {
    use strata::layers::{Maximum, Minimum};
    let a = Tensor::new(vec![2.0, 3.0, 5.0, 7.0], &[1, 2, 2]).unwrap();
    let b = Tensor::new(vec![-1.0, 10.0, 4.0, -6.0], &[1, 2, 2]).unwrap();
    let (first_kept, second_kept) = (Tensor::new(vec![1.0, 0.0], &[1, 2]).unwrap(), Tensor::new(vec![0.0, 1.0], &[1, 2]).unwrap());
    let run = |layer: &dyn Layer, masks: &[Option<Tensor>]| layer.call_masked(&[a.clone(), b.clone()], masks, false).unwrap().remove(0).to_vec();
    let (mul, max, min) = (Multiply::new(), Maximum::new(), Minimum::new());
    // Only `a` masked, at its second step: there `b` alone counts.
    let only_a = [Some(first_kept.clone()), None];
    assert_eq!(run(&mul, &only_a), [-2.0, 30.0, 4.0, -6.0]);
    assert_eq!(run(&max, &only_a), [2.0, 10.0, 4.0, -6.0]);
    assert_eq!(run(&min, &only_a), [-1.0, 3.0, 4.0, -6.0]);
    // Both masked, each at another step: the kept one counts.
    let both = [Some(first_kept.clone()), Some(second_kept)];
    assert_eq!(run(&mul, &both), [2.0, 3.0, 4.0, -6.0]);
    assert_eq!(run(&max, &both), [2.0, 3.0, 4.0, -6.0]);
    // A step masked in every input: Multiply gives 0 there, Maximum the first input's value.
    let same = [Some(first_kept.clone()), Some(first_kept)];
    assert_eq!(run(&mul, &same), [-2.0, 30.0, 0.0, 0.0]);
    assert_eq!(run(&max, &same), [2.0, 10.0, 5.0, 7.0]);
    assert_eq!(Multiply::new().compute_mask(&[a.clone(), b.clone()], &same).unwrap()[0].as_ref().unwrap().to_vec(), [1.0, 0.0]);
    // A mask that does not mark the input's (batch, steps) is named.
    let e = err_text(mul.call_masked(&[a.clone(), b.clone()], &[Some(Tensor::full(&[1, 3], 1.0)), None], false));
    assert!(e.contains("does not mark"), "{e}");
}

#[test]
fn batch_normalization_in_training_takes_moments_over_kept_steps() {
    let tokens = Input::typed([4], "tokens", DType::I32);
    let normed = BatchNormalization::new().named("bn").apply(&Embedding::new(5, 3).mask_zero(true).apply(&tokens).unwrap()).unwrap();
    let model = Model::with_seed(&[tokens], &[normed], 0).unwrap();
    // Padding repeated or not, the kept steps' moments and so their outputs are the same.
    let short = Tensor::from_i32(vec![1, 2, 3, 0], &[1, 4]).unwrap();
    let long = Tensor::from_i32(vec![1, 2, 0, 3], &[1, 4]).unwrap();
    let (y1, y2) = (model.call(&short, true).unwrap().to_vec(), model.call(&long, true).unwrap().to_vec());
    assert_eq!((&y1[..6], &y1[6..9]), (&y2[..6], &y2[9..12]));
    let mut bad = Sequential::new();
    let e = err_text(bad.add(Masking::new(f32::NAN).named("pad").input_shape([3, 2])));
    assert!(e.contains("pad") && e.contains("mask_value"), "{e}");
}

/// Keras writes the masks it carried as op nodes and `mask=` arguments:
/// Strata leaves those out, and refuses a mask that no such op made.
#[test]
fn keras_mask_arguments_are_read_or_refused() {
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_masking.json")).unwrap()).unwrap();
    let text = fx["models"][0]["model_json"].as_str().unwrap();
    assert!(text.contains("NotEqual") && text.contains("\"mask\""), "the fixture has Keras's mask plumbing");
    let model = Model::from_json_str(text, 0).unwrap();
    assert!(!model.to_json().to_string().contains("NotEqual"));
    let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
    let lstm = json["config"]["layers"].as_array_mut().unwrap().iter_mut().find(|l| l["class_name"] == "LSTM").unwrap();
    lstm["inbound_nodes"][0]["kwargs"]["mask"]["config"]["keras_history"] = serde_json::json!(["tokens", 0, 0]);
    let e = err_text(Model::from_json(&json, 0));
    assert!(e.contains("is given the mask 'tokens'"), "{e}");
}
