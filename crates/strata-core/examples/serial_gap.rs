//! How long the headline CNN's first convolution + pooling (forward, batch
//! 32) takes right after the calling thread has worked alone for a while:
//! an idle pool worker falls asleep after some tens of microseconds, and the
//! loop then waits to wake it. Outside a training step nothing keeps the
//! workers awake (`threads::keep_awake`), so this shows the cost it avoids:
//! `cargo run --release -p strata-core --example serial_gap`.

use std::time::{Duration, Instant};
use strata_core::{ops, Padding, Tensor};
fn main() {
    let (n, h, c, f) = (32, 28, 1, 32);
    let x = Tensor::new((0..n * h * h * c).map(|i| ((i * 31 % 17) as f32 - 8.0) * 0.1).collect(), &[n, h, h, c]).unwrap();
    let k = Tensor::variable((0..9 * c * f).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.05).collect(), &[3, 3, c, f]).unwrap();
    let b = Tensor::variable(vec![0.01; f], &[f]).unwrap();
    let _g = strata_core::no_grad();
    for gap_us in [0u64, 10, 20, 40, 80, 200, 1000] {
        let mut t = vec![];
        for _ in 0..400 {
            let s = Instant::now();
            // The calling thread busy, alone.
            while s.elapsed() < Duration::from_micros(gap_us) {}
            let s = Instant::now();
            ops::conv2d_relu_max_pool(&x, &k, Some(&b), (1, 1), Padding::Valid, (2, 2)).unwrap();
            t.push(s.elapsed().as_secs_f64() * 1e6);
        }
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("gap {gap_us:5} us before: conv1 forward p50 {:.1} us, p90 {:.1}", t[200], t[360]);
    }
}
