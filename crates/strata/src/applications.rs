//! Ready-made model architectures.

use strata_core::Result;

use crate::prelude::*;

/// The founding document's CNN for 28x28 grey images and 10 classes, layer
/// for layer as its Keras program (60,554 parameters), compiled with Adam,
/// categorical cross-entropy and accuracy.
pub fn headline_cnn(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::with_seed(seed);
    model.add(Conv2D::new(32, (3, 3)).activation(Relu).input_shape([28, 28, 1]))?;
    model.add(MaxPooling2D::new((2, 2)))?;
    model.add(Conv2D::new(64, (3, 3)).activation(Relu))?;
    model.add(MaxPooling2D::new((2, 2)))?;
    model.add(Conv2D::new(64, (3, 3)).activation(Relu))?;
    model.add(MaxPooling2D::new((2, 2)))?;
    model.add(Flatten::new())?;
    model.add(Dense::new(64).activation(Relu))?;
    model.add(Dense::new(10).activation(Softmax))?;
    model.compile("adam", "categorical_crossentropy", &["accuracy"])?;
    Ok(model)
}

/// The benchmark multilayer perceptron: 28x28x1 images flattened, then
/// Dense 512 (relu), Dense 512 (relu), Dense 10 (softmax); compiled like the
/// headline CNN. 669,706 parameters.
pub fn dense_mlp(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::with_seed(seed);
    model.add(Flatten::new().input_shape([28, 28, 1]))?;
    model.add(Dense::new(512).activation(Relu))?;
    model.add(Dense::new(512).activation(Relu))?;
    model.add(Dense::new(10).activation(Softmax))?;
    model.compile("adam", "categorical_crossentropy", &["accuracy"])?;
    Ok(model)
}

/// Ids the character models take: padding, `[UNK]` and the 83 characters of
/// Shakespeare's plays, as the `char_lm` example's `TextVectorization` makes them.
pub const CHARACTER_IDS: usize = 85;

/// The `char_lm` example's model on windows of 100 ids: Embedding(85, 64) ->
/// LSTM(256, return_sequences) -> Dense(85) logits, compiled with Adam 2e-3
/// and sparse categorical cross-entropy from logits (the loss at every position).
pub fn char_lstm(seed: u64) -> Result<Sequential> {
    char_model(seed, Box::new(crate::layers::LSTM::new(256).return_sequences(true)))
}

/// [`char_lstm`] with a GRU(256) (Keras 3's `reset_after=True`) in place of the LSTM.
pub fn char_gru(seed: u64) -> Result<Sequential> {
    char_model(seed, Box::new(crate::layers::GRU::new(256).return_sequences(true)))
}

fn char_model(seed: u64, recurrent: Box<dyn Layer>) -> Result<Sequential> {
    let mut model = Sequential::with_seed(seed);
    model.add(crate::layers::Embedding::new(CHARACTER_IDS, 64).input_shape([100]))?;
    model.push(recurrent)?;
    model.add(Dense::new(CHARACTER_IDS))?;
    model.compile(crate::optimizers::Adam::new(2e-3)?, crate::losses::SparseCategoricalCrossentropy::new(true), &[])?;
    Ok(model)
}

/// FLOPs (2 x multiply-adds) of one forward pass per sample, layer by layer,
/// counted over the layers with a kernel: convolutions and dense layers (the
/// kernel at every output position), and recurrent layers (the kernel and
/// the recurrent kernel at every step).
pub fn layer_flops(model: &mut Sequential) -> Result<Vec<f64>> {
    model.build_from_declared()?;
    let mut flops = Vec::new();
    for (i, layer) in model.layers().iter().enumerate() {
        let out = model.layer_output_shape(i).unwrap_or_default();
        let weights = layer.weights();
        let size = |suffix: &str| weights.iter().find(|w| w.name == suffix || w.name.ends_with(&format!("/{suffix}"))).map(|w| w.tensor.numel()).unwrap_or(0);
        let recurrent = size("recurrent_kernel");
        if recurrent > 0 {
            let input = if i == 0 { model.input_shape().map(|s| s.to_vec()) } else { model.layer_output_shape(i - 1) };
            let steps = input.and_then(|s| s.first().copied()).unwrap_or(0);
            flops.push(2.0 * steps as f64 * (size("kernel") + recurrent) as f64);
            continue;
        }
        let positions = out.iter().product::<usize>() / out.last().copied().unwrap_or(1).max(1);
        let kernel = weights.iter().find(|w| w.name == "kernel").map(|w| w.tensor.numel()).unwrap_or(0);
        flops.push(2.0 * positions as f64 * kernel as f64);
    }
    Ok(flops)
}

/// The multiply-add FLOPs per sample Strata executes, layer by layer, as
/// (forward pass, each of the two backward products). Where a relu `Conv2D`
/// runs fused with the `MaxPooling2D` after it, the convolution outputs no
/// pooling window reads are skipped (for the headline CNN, the last row and
/// column of the 11x11 and 3x3 maps); where a convolution's forward pass runs
/// as Winograd's F(2x2, 3x3), it counts 16 products per 2x2 output block
/// instead of 36 (the transforms' additions are not counted). Both apply on
/// CPUs that run tiles only (AVX-512, or AVX2 and FMA); elsewhere this equals [`layer_flops`].
/// The backward products of a fused convolution whose kernel rows fill a
/// vector go through each window's maximum alone and skip the rest; that
/// depends on the data, so it is not counted here but as they run
/// ([`strata_core::profile::take_skipped_flops`]).
pub fn executed_layer_flops(model: &mut Sequential) -> Result<Vec<(f64, f64)>> {
    let nominal = layer_flops(model)?;
    let mut flops: Vec<(f64, f64)> = nominal.iter().map(|&f| (f, f)).collect();
    if !strata_core::kernels::tile::available() {
        return Ok(flops);
    }
    let layers = model.layers();
    for i in 0..layers.len() {
        let Some(&[oh, ow, f]) = model.layer_output_shape(i).as_deref() else { continue };
        let (mut used_h, mut used_w) = (oh, ow);
        if let (true, Some((ph, pw))) = (layers[i].fuses_max_pool(), layers.get(i + 1).and_then(|l| l.tiling_max_pool())) {
            (used_h, used_w) = (oh / ph * ph, ow / pw * pw);
        }
        let direct = nominal[i] * (used_h * used_w) as f64 / (oh * ow).max(1) as f64;
        flops[i] = (direct, direct);
        let input = if i == 0 { model.input_shape().map(|s| s.to_vec()) } else { model.layer_output_shape(i - 1) };
        if let (Some(&[h, w, c]), true) = (input.as_deref(), runs_winograd(layers[i].config())) {
            let window = strata_core::kernels::window::Window::new([1, h, w, c], (3, 3), (1, 1), strata_core::Padding::Valid);
            if window.is_some_and(|g| strata_core::kernels::winograd::eligible(&g)) {
                flops[i].0 = 2.0 * 16.0 * (used_h.div_ceil(2) * used_w.div_ceil(2) * c * f) as f64;
            }
        }
    }
    Ok(flops)
}

/// Whether a layer's config is a plain 3x3, stride-1 `Conv2D` (Winograd's shape).
fn runs_winograd(config: serde_json::Value) -> bool {
    let pair = |key: &str, v: u64| config[key].as_array().is_some_and(|a| a.len() == 2 && a.iter().all(|x| x.as_u64() == Some(v)));
    pair("kernel_size", 3) && pair("strides", 1) && pair("dilation_rate", 1) && config["groups"].as_u64().unwrap_or(1) == 1
}
