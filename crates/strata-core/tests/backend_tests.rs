//! Integer tensors, and the backend seam: both CPU backends compute the same
//! ops, and nothing above the seam reads a tensor's memory.

use strata_core::backend::{Backend, Cpu, Portable};
use strata_core::{ops, DType, Padding, Rng, Tensor};

#[test]
fn integer_tensors_keep_their_type_and_convert_on_request() {
    let ids = Tensor::from_i64(vec![3, -1, 7, 0, 2, 5], &[2, 3]).unwrap();
    assert_eq!(ids.dtype(), DType::I64);
    assert_eq!(ids.to_i64().unwrap(), [3, -1, 7, 0, 2, 5]);
    assert_eq!(ids.data().to_vec(), [3.0, -1.0, 7.0, 0.0, 2.0, 5.0], "read as f32 on request");
    // Batching keeps the type.
    let rows = ids.gather_rows(&[1, 1, 0]).unwrap();
    assert_eq!((rows.dtype(), rows.shape()), (DType::I64, &[3, 3][..]));
    assert_eq!(rows.to_i64().unwrap(), [0, 2, 5, 0, 2, 5, 3, -1, 7]);
    // Casts: float to int truncates toward zero, as NumPy's astype.
    let x = Tensor::new(vec![1.9, -2.7, 3.0], &[3]).unwrap();
    assert_eq!(x.cast(DType::I32).to_i64().unwrap(), [1, -2, 3]);
    assert_eq!(x.cast(DType::I32).dtype(), DType::I32);
    assert_eq!(Tensor::from_i32(vec![4, 5], &[2]).unwrap().cast(DType::F32).to_vec(), [4.0, 5.0]);
    assert_eq!(ids.detach().dtype(), DType::I64);
    // Bad input names the culprit.
    assert!(Tensor::from_i64(vec![1, 2, 3], &[2, 2]).unwrap_err().to_string().contains("3 values cannot fill shape"));
    let err = Tensor::new(vec![1.0, 2.5], &[2]).unwrap().to_i64().unwrap_err().to_string();
    assert!(err.contains("element 1") && err.contains("2.5"), "{err}");
    let err = ids.to_indices().unwrap_err().to_string();
    assert!(err.contains("element 1") && err.contains("-1"), "{err}");
}

#[test]
fn integer_ids_index_and_label() {
    let table = Tensor::new((0..10).map(|v| v as f32).collect(), &[5, 2]).unwrap();
    let ids = Tensor::from_i64(vec![4, 0, 4], &[1, 3]).unwrap();
    let rows = table.take(&ids, 0).unwrap();
    assert_eq!(rows.shape(), [1, 3, 2]);
    assert_eq!(rows.to_vec(), [8.0, 9.0, 0.0, 1.0, 8.0, 9.0]);
    let err = table.take(&Tensor::from_i64(vec![5], &[1]).unwrap(), 0).unwrap_err().to_string();
    assert!(err.contains("index 5 is out of range"), "{err}");
    // argmax gives i64 positions, the first of equals.
    let scores = Tensor::new(vec![0.1, 0.7, 0.7, 2.0, -1.0, 0.0], &[2, 3]).unwrap();
    let best = scores.argmax(-1).unwrap();
    assert_eq!((best.dtype(), best.shape(), best.to_i64().unwrap()), (DType::I64, &[2][..], vec![1, 0]));
    assert!(Tensor::zeros(&[2, 0]).argmax(1).unwrap_err().to_string().contains("empty"));
    // Labels from an integer tensor make one-hot rows; out of range is an error naming the sample.
    let labels = Tensor::from_i32(vec![2, 0], &[2]).unwrap().to_indices().unwrap();
    assert_eq!(Tensor::one_hot(&labels, 3).unwrap().to_vec(), [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    assert!(Tensor::one_hot(&[0, 3], 3).unwrap_err().to_string().contains("label 3 of sample 1"));
}

/// The two CPU backends give the same values and gradients for a small
/// convolutional network's ops (bit for bit where no convolution runs on
/// tiles; to rounding where one does).
#[test]
fn both_cpu_backends_compute_the_same_network() {
    let mut rng = Rng::new(3);
    let mut var = |shape: &[usize]| Tensor::variable((0..shape.iter().product()).map(|_| rng.normal()).collect(), shape).unwrap();
    let (x, k, b, w) = (var(&[2, 8, 8, 3]), var(&[3, 3, 3, 4]), var(&[4]), var(&[36, 5]));
    let g = strata_core::kernels::window::Window::new([2, 8, 8, 3], (3, 3), (1, 1), Padding::Valid).unwrap();
    let pool = strata_core::kernels::window::Window::new([2, 6, 6, 4], (2, 2), (2, 2), Padding::Valid).unwrap();
    let run = |backend: &dyn Backend| {
        let y = backend.conv2d_relu_max_pool(&x, &k, Some(&b), g, pool);
        let z = backend.linear(&y.reshape(&[2, 36]).unwrap(), &w, None, false);
        let loss = backend.softmax(&z, 1, true).sum();
        let grads = loss.backward().unwrap();
        let mut values = vec![loss.to_vec()];
        values.extend([&x, &k, &b, &w].map(|t| grads.get(t).unwrap().to_vec()));
        values
    };
    for (which, (a, p)) in run(&Cpu).iter().zip(run(&Portable)).enumerate() {
        for (u, v) in a.iter().zip(&p) {
            assert!((u - v).abs() <= 1e-4 * (1.0 + v.abs()), "part {which}: {u} vs {v}");
        }
    }
    assert!(["cpu", "portable"].contains(&x.backend().name()));
    assert_eq!(ops::max_pool2d(&x, (2, 2), (2, 2), Padding::Valid).unwrap().shape(), [2, 4, 4, 3]);
}

/// Ops compute through the backend: no file of `ops/` reads or writes a
/// tensor's memory itself, nor does an optimizer or a layer of the `strata`
/// crate (host access is for loading, saving, metrics and tests).
#[test]
fn nothing_above_the_seam_touches_tensor_memory() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut offenders = Vec::new();
    for dir in ["strata-core/src/ops", "strata/src/optimizers", "strata/src/layers"] {
        let mut stack = vec![std::path::PathBuf::from(format!("{root}/{dir}"))];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                if [".data()", ".data_mut()"].iter().any(|call| line.contains(call)) {
                    offenders.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "host memory read above the backend seam:\n{}", offenders.join("\n"));
}

/// An image alone (its rows shared among the threads) and the same image in
/// a batch (one thread each) give the same bits, through Winograd's blocks
/// (13x13x32 -> 64, as the headline CNN's second convolution) and direct
/// tiles (one input channel), pooled by 2 and by 3.
#[test]
fn a_single_image_gives_the_bits_it_gives_in_a_batch() {
    let mut rng = Rng::new(8);
    let mut values = |n: usize| (0..n).map(|_| rng.normal()).collect::<Vec<f32>>();
    for (h, c, f, pool) in [(13, 32, 64, 2), (28, 1, 32, 2), (13, 32, 16, 3), (11, 20, 24, 2)] {
        let x = Tensor::new(values(4 * h * h * c), &[4, h, h, c]).unwrap();
        let (k, b) = (Tensor::new(values(9 * c * f), &[3, 3, c, f]).unwrap(), Tensor::new(values(f), &[f]).unwrap());
        let batch = ops::conv2d_relu_max_pool(&x, &k, Some(&b), (1, 1), Padding::Valid, (pool, pool)).unwrap().to_vec();
        let per_image = batch.len() / 4;
        for i in 0..4 {
            let one = ops::conv2d_relu_max_pool(&x.gather_rows(&[i]).unwrap(), &k, Some(&b), (1, 1), Padding::Valid, (pool, pool)).unwrap();
            assert_eq!(one.to_vec(), batch[i * per_image..(i + 1) * per_image], "{h}x{h}x{c} -> {f}, pool {pool}, image {i}");
            let alone = ops::conv2d(&x.gather_rows(&[i]).unwrap(), &k, Some(&b), (1, 1), Padding::Valid).unwrap();
            let unfused = ops::max_pool2d(&alone.relu(), (pool, pool), (pool, pool), Padding::Valid).unwrap();
            for (u, v) in one.to_vec().iter().zip(unfused.to_vec()) {
                assert!((u - v).abs() <= 1e-4 * (1.0 + v.abs()), "{h}x{h}x{c} -> {f}: fused {u} vs {v}");
            }
        }
    }
}

/// A value derived from a tensor (Winograd's transformed kernel) is kept
/// while the tensor is unchanged and made again once it is written.
#[test]
fn derived_values_follow_their_tensor() {
    let w = Tensor::variable(vec![1.0, 2.0, 3.0], &[3]).unwrap();
    let made = std::sync::atomic::AtomicUsize::new(0);
    let sum = |t: &Tensor| {
        *t.derived("sum", |v| {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            v.iter().sum::<f32>()
        })
    };
    assert_eq!((sum(&w), sum(&w)), (6.0, 6.0));
    assert_eq!(made.load(std::sync::atomic::Ordering::Relaxed), 1);
    w.data_mut()[0] = 10.0;
    assert_eq!(sum(&w), 15.0);
    assert_eq!(sum(&w.reshape(&[1, 3]).unwrap()), 15.0, "a reshape shares the storage and what is derived from it");
    assert_eq!(made.load(std::sync::atomic::Ordering::Relaxed), 2);
    // A convolution whose kernel an optimizer changed in place uses the new kernel.
    let (x, k) = (Tensor::new(vec![1.0; 10 * 10 * 16], &[1, 10, 10, 16]).unwrap(), Tensor::variable(vec![0.5; 9 * 16 * 4], &[3, 3, 16, 4]).unwrap());
    let before = ops::conv2d(&x, &k, None, (1, 1), Padding::Valid).unwrap().to_vec();
    k.data_mut().iter_mut().for_each(|v| *v = 1.0);
    let after = ops::conv2d(&x, &k, None, (1, 1), Padding::Valid).unwrap().to_vec();
    assert!(before.iter().all(|&v| (v - 72.0).abs() < 1e-3) && after.iter().all(|&v| (v - 144.0).abs() < 1e-3), "{} {}", before[0], after[0]);
}

/// A convolution with a few filters (a generator's last layer: 64 channels
/// to one) takes the thin path on both backends, so both give the same
/// bits: on register tiles its one column would leave most lanes idle (it
/// had made the DCGAN example's step 1.35x slower on an AVX2 host).
#[test]
fn few_filter_convolutions_take_the_thin_path_everywhere() {
    let mut rng = Rng::new(8);
    let mut var = |shape: &[usize]| Tensor::variable((0..shape.iter().product()).map(|_| rng.normal()).collect(), shape).unwrap();
    for f in [1, 4] {
        let (x, k, b) = (var(&[3, 12, 12, 64]), var(&[7, 7, 64, f]), var(&[f]));
        let g = strata_core::kernels::window::Window::new([3, 12, 12, 64], (7, 7), (1, 1), Padding::Same).unwrap();
        let run = |backend: &dyn Backend| {
            let y = backend.conv2d(&x, &k, Some(&b), g, false);
            let grads = y.square().sum().backward().unwrap();
            [y.to_vec(), grads.get(&x).unwrap().to_vec(), grads.get(&k).unwrap().to_vec()]
        };
        assert_eq!(run(&Cpu), run(&Portable), "{f} filters");
    }
}

/// Recurrent ops with no units (empty kernels, which their checks accept)
/// give empty outputs and gradients, on plain input and on an embedding's
/// rows, without panicking (SimpleRNN and the GRUs did, splitting rows of
/// zero units among threads).
#[test]
fn recurrent_ops_with_no_units_give_empty_results() {
    use strata_core::ops::RecurrentDropout;
    let (b, t, d) = (2, 3, 4);
    let table = Tensor::variable(vec![0.5; 5 * d], &[5, d]).unwrap();
    let ids = Tensor::from_i32(vec![0, 1, 2, 3, 4, 0], &[b, t]).unwrap();
    for x in [Tensor::variable(vec![0.25; b * t * d], &[b, t, d]).unwrap(), table.take(&ids, 0).unwrap()] {
        let empty = |shape: &[usize]| Tensor::variable(Vec::new(), shape).unwrap();
        let (none, h0) = (RecurrentDropout::default(), empty(&[b, 0]));
        let (kernel, recurrent, bias) = (empty(&[d, 0]), empty(&[0, 0]), empty(&[0]));
        let [hs, cs] = x.lstm(&kernel, &recurrent, &bias, &h0, &h0, &none).unwrap();
        let outputs = [
            hs,
            cs,
            x.simple_rnn(&kernel, &recurrent, &bias, &h0, &none).unwrap(),
            x.gru(&kernel, &recurrent, [&bias, &bias], &h0, &none).unwrap(),
            x.gru_reset_before(&kernel, &recurrent, &bias, &h0, &none).unwrap(),
        ];
        for y in outputs {
            assert_eq!(y.shape(), [b, t, 0]);
            y.sum().backward().unwrap();
        }
    }
}
