//! A program's main thread as a worker of the pool (`threads::init_on_main`):
//! its parallel loops run there, other threads' loops still run while it
//! waits outside the pool, and the numbers are the bits a thread outside the
//! pool computes. A test binary of its own: the pool is built once per process.

use strata_core::{ops, threads, Padding, Rng, Tensor};

/// A convolution and a matrix product, large enough to split among threads,
/// forward and backward: the loss and every gradient, as bits.
fn bits() -> Vec<Vec<u32>> {
    let mut rng = Rng::new(3);
    let mut random = |shape: &[usize]| {
        let n = shape.iter().product();
        Tensor::variable((0..n).map(|_| rng.uniform() - 0.5).collect(), shape).unwrap()
    };
    let (x, kernel, a, b) = (random(&[8, 14, 14, 16]), random(&[3, 3, 16, 32]), random(&[96, 200]), random(&[200, 120]));
    let conv = ops::conv2d(&x, &kernel, None, (1, 1), Padding::Valid).unwrap().relu();
    let loss = conv.square().sum().add(&a.matmul(&b).unwrap().tanh().sum()).unwrap();
    let grads = loss.backward().unwrap();
    let mut out = vec![loss.to_vec()];
    out.extend([&x, &kernel, &a, &b].map(|t| grads.get(t).unwrap().to_vec()));
    out.into_iter().map(|v| v.into_iter().map(f32::to_bits).collect()).collect()
}

#[test]
fn the_main_thread_works_in_the_pool_and_computes_the_same_bits() {
    threads::init_on_main(Some(2)).unwrap();
    assert_eq!(rayon::current_thread_index(), Some(0), "the calling thread is worker 0");
    assert_eq!(threads::num_threads(), 2);
    // Asking again for the size it has succeeds; another size is refused.
    threads::init_on_main(Some(2)).unwrap();
    assert!(threads::set_num_threads(3).unwrap_err().to_string().contains("cannot be resized to 3"));
    // on_pool runs in place here.
    assert_eq!(threads::on_pool(rayon::current_thread_index), Some(0));
    let here = bits();
    // Another thread's loops run on the other worker while this one waits
    // outside the pool (in `join`), and give the same bits.
    let there = std::thread::spawn(bits).join().unwrap();
    assert!(here == there, "the main thread's worker and a thread outside the pool disagree");
    assert_eq!(std::thread::spawn(|| threads::on_pool(rayon::current_thread_index)).join().unwrap(), Some(1));
}
