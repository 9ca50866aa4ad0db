//! A training loop written by hand: autodiff and optimizers work outside `fit`.
//!
//!     cargo run --release -p strata --example custom_loop

use strata::prelude::*;

fn main() -> strata::Result<()> {
    let data = strata::datasets::mnist_sample()?;
    let train = data.train.take(2000)?;
    let (x, y) = (&train.images, train.one_hot(10)?);

    let mut model = Sequential::with_seed(1);
    model.add(Flatten::new().input_shape([28, 28, 1]))?;
    model.add(Dense::new(64).activation(Relu))?;
    model.add(Dense::new(10).activation(Softmax))?;
    model.build_from_declared()?;

    let params = model.trainable_weights();
    let mut adam = Adam::default();
    let loss_fn = CategoricalCrossentropy::default();
    for epoch in 0..3 {
        let mut total = 0.0;
        for start in (0..train.len()).step_by(32) {
            let rows: Vec<usize> = (start..(start + 32).min(train.len())).collect();
            let (xb, yb) = (x.gather_rows(&rows)?, y.gather_rows(&rows)?);
            let loss = loss_fn.call(&yb, &model.call(&xb, true)?)?; // forward
            let grads = loss.backward()?; // reverse-mode autodiff
            adam.apply(&params, &grads)?; // one Adam step
            total += loss.item()? * rows.len() as f32;
        }
        println!("epoch {}: loss {:.4}", epoch + 1, total / train.len() as f32);
    }
    Ok(())
}
