//! A functional model with two outputs on the bundled digits: the digit's
//! class and whether it is even, from one shared trunk; a loss, a loss weight
//! and metrics per output; then a feature extractor on the same layers.
//!
//!     cargo run --release -p strata --example functional

use strata::prelude::*;

fn main() -> strata::Result<()> {
    let data = strata::datasets::mnist_sample()?;
    let train = data.train.take(4000)?;
    let even = |labels: &[usize]| Tensor::new(labels.iter().map(|&l| (l % 2 == 0) as u8 as f32).collect(), &[labels.len(), 1]);

    let image = Input::named([28, 28, 1], "image");
    let h = Conv2D::new(16, 3).activation(Relu).apply(&image)?;
    let h = Flatten::new().apply(&MaxPooling2D::new(2).apply(&h)?)?;
    let trunk = Dense::new(64).activation(Relu).named("trunk").apply(&h)?;
    let class = Dense::new(10).activation(Softmax).named("class").apply(&trunk)?;
    let parity = Dense::new(1).activation(Sigmoid).named("even").apply(&Concatenate::new().apply([&trunk, &class])?)?;
    let mut model = Model::with_seed(&[image], &[class, parity], 0)?;
    model.compile_with(
        Compile::new("adam")
            .output_loss("class", "categorical_crossentropy")
            .output_loss("even", "binary_crossentropy")
            .loss_weight("even", 0.5)
            .output_metrics("class", &["accuracy"])
            .output_metrics("even", &["accuracy"]),
    )?;
    model.summary()?;
    // Targets by output name; the logs are named as Keras names them.
    let targets = vec![("class", train.one_hot(10)?), ("even", even(&train.labels)?)];
    model.fit(&train.images, targets, FitOptions { epochs: 2, ..Default::default() })?;
    let test = model.evaluate(&data.test.images, vec![("class", data.test.one_hot(10)?), ("even", even(&data.test.labels)?)], 500)?;
    println!("test: {}", test.describe());

    // Feature extraction: the trunk's activations for the first test images.
    let features = Model::with_seed(&model.inputs(), &[model.layer_output("trunk")?], 0)?;
    let rows: Vec<usize> = (0..4).collect();
    println!("trunk features of 4 test images: {:?}", features.call(&data.test.images.gather_rows(&rows)?, false)?.shape());
    Ok(())
}
