//! Times the headline model's three convolution + pooling ops, forward and
//! backward, on the thread pool: `cargo run --release -p strata-core --example fused_ops`.

mod timing;

use strata_core::{ops, Padding, Tensor};

fn main() {
    // An optional argument picks one layer (0, 1 or 2).
    let only: Option<usize> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    for (layer, &(h, c, f)) in [(28, 1, 32), (13, 32, 64), (5, 64, 64)].iter().enumerate() {
        if only.is_some_and(|o| o != layer) {
            continue;
        }
        let n = 32;
        // The first layer's input is data: no gradient is needed for it.
        let values: Vec<f32> = (0..n * h * h * c).map(|i| ((i * 31 % 17) as f32 - 8.0) * 0.1).collect();
        let x = if layer == 0 { Tensor::new(values, &[n, h, h, c]) } else { Tensor::variable(values, &[n, h, h, c]) }.unwrap();
        let k = Tensor::variable((0..9 * c * f).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.05).collect(), &[3, 3, c, f]).unwrap();
        let b = Tensor::variable(vec![0.01; f], &[f]).unwrap();
        let fwd = timing::median_ms(31, || {
            let _g = strata_core::no_grad();
            ops::conv2d_relu_max_pool(&x, &k, Some(&b), (1, 1), Padding::Valid, (2, 2)).unwrap();
        });
        let conv_only = timing::median_ms(31, || {
            let _g = strata_core::no_grad();
            ops::conv2d_fused(&x, &k, Some(&b), (1, 1), Padding::Valid, true).unwrap();
        });
        let train = timing::median_ms(31, || {
            let y = ops::conv2d_relu_max_pool(&x, &k, Some(&b), (1, 1), Padding::Valid, (2, 2)).unwrap();
            y.sum().backward().unwrap();
        });
        println!("{h}x{h}x{c} -> {f}: fused forward {fwd:.3} ms (conv alone {conv_only:.3}), forward + backward {train:.3} ms");
    }
}
