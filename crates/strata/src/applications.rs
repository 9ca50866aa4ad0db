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

/// FLOPs (2 x multiply-adds) of one forward pass per sample, layer by layer,
/// counted over the layers with a kernel (convolutions and dense layers).
pub fn layer_flops(model: &mut Sequential) -> Result<Vec<f64>> {
    model.build_from_declared()?;
    let mut flops = Vec::new();
    for (i, layer) in model.layers().iter().enumerate() {
        let out = model.layer_output_shape(i).unwrap_or_default();
        let positions = out.iter().product::<usize>() / out.last().copied().unwrap_or(1).max(1);
        let kernel = layer.weights().iter().find(|w| w.name == "kernel").map(|w| w.tensor.numel()).unwrap_or(0);
        flops.push(2.0 * positions as f64 * kernel as f64);
    }
    Ok(flops)
}

/// Like [`layer_flops`], counting only what Strata computes: where a relu
/// `Conv2D` runs fused with the `MaxPooling2D` after it (on CPUs with
/// AVX-512), the convolution outputs no pooling window reads are skipped
/// (for the headline CNN, the last row and column of the 11x11 and 3x3 maps).
pub fn executed_layer_flops(model: &mut Sequential) -> Result<Vec<f64>> {
    let mut flops = layer_flops(model)?;
    if !strata_core::kernels::tile::available() {
        return Ok(flops);
    }
    let layers = model.layers();
    for (i, pair) in layers.windows(2).enumerate() {
        let (Some((ph, pw)), true) = (pair[1].tiling_max_pool(), pair[0].fuses_max_pool()) else { continue };
        if let Some(&[oh, ow, _]) = model.layer_output_shape(i).as_deref() {
            flops[i] *= ((oh / ph * ph) * (ow / pw * pw)) as f64 / (oh * ow).max(1) as f64;
        }
    }
    Ok(flops)
}
