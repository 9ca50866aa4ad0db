//! Every op's gradient against central finite differences.

// `&[x.clone()]` reads as the one-input list it is; `std::slice::from_ref(&x)` does not.
#![allow(clippy::cloned_ref_to_slice_refs)]

use strata_core::ops::RecurrentDropout;
use strata_core::{no_grad, ops, Padding, Rng, Tensor};

/// A random variable of `shape`; values are kept at least `gap` away from 0
/// so that kinks (relu, max) are not straddled by the finite difference.
fn var(rng: &mut Rng, shape: &[usize], gap: f32) -> Tensor {
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            let v = rng.normal();
            if v.abs() < gap { v.signum() * gap + v } else { v }
        })
        .collect();
    Tensor::variable(data, shape).unwrap()
}

/// Checks d(Σ f(inputs) · r)/d(input) against central differences for every input.
fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor) {
    let mut rng = Rng::new(99);
    let out = f(inputs);
    let weights = Tensor::new((0..out.numel()).map(|_| rng.normal()).collect(), out.shape()).unwrap();
    let objective = |ins: &[Tensor]| f(ins).mul(&weights).unwrap().sum();
    let grads = objective(inputs).backward().unwrap();
    let eps = 1e-2f32;
    for (which, x) in inputs.iter().enumerate() {
        let analytic = grads.get(x).unwrap_or_else(|| panic!("{name}: no gradient for input {which}")).to_vec();
        for i in 0..x.numel() {
            let orig = x.data()[i];
            let eval = |v: f32| {
                x.data_mut()[i] = v;
                let _g = no_grad();
                objective(inputs).item().unwrap() as f64
            };
            let numeric = ((eval(orig + eps) - eval(orig - eps)) / (2.0 * eps as f64)) as f32;
            x.data_mut()[i] = orig;
            let a = analytic[i];
            assert!(
                (a - numeric).abs() <= 5e-3 + 2e-2 * numeric.abs(),
                "{name}: input {which} element {i}: analytic {a} vs numeric {numeric}"
            );
        }
    }
}

#[test]
fn arithmetic_with_broadcasting() {
    let mut r = Rng::new(1);
    let cases: &[(&[usize], &[usize])] = &[(&[3, 4], &[3, 4]), (&[2, 3, 4], &[4]), (&[2, 1, 4], &[3, 1]), (&[5], &[])];
    for (sa, sb) in cases {
        let (a, b) = (var(&mut r, sa, 0.0), var(&mut r, sb, 0.5));
        check("add", &[a.clone(), b.clone()], |t| t[0].add(&t[1]).unwrap());
        check("sub", &[a.clone(), b.clone()], |t| t[0].sub(&t[1]).unwrap());
        check("mul", &[a.clone(), b.clone()], |t| t[0].mul(&t[1]).unwrap());
        check("div", &[a.clone(), b.clone()], |t| t[0].div(&t[1]).unwrap());
        check("maximum", &[a.clone(), b.clone()], |t| t[0].maximum(&t[1]).unwrap());
        check("minimum", &[a.clone(), b.clone()], |t| t[0].minimum(&t[1]).unwrap());
    }
}

#[test]
fn unary_maths() {
    let mut r = Rng::new(2);
    let x = var(&mut r, &[4, 5], 0.1);
    check("scale", &[x.clone()], |t| t[0].scale(-1.5));
    check("add_scalar", &[x.clone()], |t| t[0].add_scalar(2.0));
    check("square", &[x.clone()], |t| t[0].square());
    check("exp", &[x.clone()], |t| t[0].exp());
    check("abs", &[x.clone()], |t| t[0].abs());
    check("clip", &[x.clone()], |t| t[0].clip(-0.55, 0.45));
    let positive = Tensor::variable(x.to_vec().iter().map(|v| v.abs() + 0.5).collect(), &[4, 5]).unwrap();
    check("log", &[positive], |t| t[0].log());
}

#[test]
fn activations() {
    let mut r = Rng::new(3);
    let x = var(&mut r, &[3, 7], 0.05);
    check("relu", &[x.clone()], |t| t[0].relu());
    check("sigmoid", &[x.clone()], |t| t[0].sigmoid());
    check("tanh", &[x.clone()], |t| t[0].tanh());
    for axis in [-1, 0] {
        check("softmax", &[x.clone()], |t| t[0].softmax(axis).unwrap());
        check("log_softmax", &[x.clone()], |t| t[0].log_softmax(axis).unwrap());
    }
    let x3 = var(&mut r, &[2, 3, 4], 0.0);
    check("softmax middle axis", &[x3.clone()], |t| t[0].softmax(1).unwrap());
    check("log_softmax middle axis", &[x3], |t| t[0].log_softmax(1).unwrap());
}

#[test]
fn reductions_and_reshape() {
    let mut r = Rng::new(4);
    let x = var(&mut r, &[2, 3, 4], 0.0);
    check("sum", &[x.clone()], |t| t[0].sum());
    check("mean", &[x.clone()], |t| t[0].mean());
    for axis in [0, 1, -1] {
        check("sum_axis", &[x.clone()], |t| t[0].sum_axis(axis, false).unwrap());
        check("mean_axis keepdims", &[x.clone()], |t| t[0].mean_axis(axis, true).unwrap());
    }
    check("reshape", &[x.clone()], |t| t[0].reshape(&[4, -1]).unwrap());
    check("flatten", &[x], |t| t[0].flatten().unwrap());
}

#[test]
fn matmul() {
    let mut r = Rng::new(5);
    for &(m, k, n) in &[(1, 1, 1), (3, 4, 5), (7, 2, 3)] {
        let (a, b) = (var(&mut r, &[m, k], 0.0), var(&mut r, &[k, n], 0.0));
        check("matmul", &[a, b], |t| t[0].matmul(&t[1]).unwrap());
    }
}

#[test]
fn conv2d_shapes_strides_paddings() {
    let mut r = Rng::new(6);
    let cases = [
        ([2, 5, 5, 1], (3, 3), 2, (1, 1), Padding::Valid),
        ([1, 6, 7, 2], (3, 2), 3, (2, 1), Padding::Same),
        ([2, 5, 4, 3], (2, 2), 2, (2, 2), Padding::Valid),
        ([1, 4, 4, 2], (3, 3), 1, (1, 1), Padding::Same),
        ([1, 7, 5, 1], (1, 1), 2, (3, 2), Padding::Same),
    ];
    for (xs, (kh, kw), f, strides, padding) in cases {
        let x = var(&mut r, &xs, 0.0);
        let k = var(&mut r, &[kh, kw, xs[3], f], 0.0);
        let b = var(&mut r, &[f], 0.0);
        let name = format!("conv2d {xs:?} k{kh}x{kw} f{f} s{strides:?} {padding:?}");
        check(&name, &[x.clone(), k.clone(), b], |t| ops::conv2d(&t[0], &t[1], Some(&t[2]), strides, padding).unwrap());
        check(&name, &[x.clone(), k.clone()], |t| ops::conv2d(&t[0], &t[1], None, strides, padding).unwrap());
        // Fused relu: the same values and gradients as conv2d followed by relu
        // (each checked against finite differences above; a finite difference
        // here would straddle relu's kink wherever an output is near zero).
        let b = var(&mut r, &[f], 0.0);
        let ins = [x.clone(), k.clone(), b];
        let fused = ops::conv2d_fused(&ins[0], &ins[1], Some(&ins[2]), strides, padding, true).unwrap();
        let chained = ops::conv2d(&ins[0], &ins[1], Some(&ins[2]), strides, padding).unwrap().relu();
        assert_eq!(fused.to_vec(), chained.to_vec(), "{name}: fused relu values");
        let weights = Tensor::new((0..fused.numel()).map(|_| r.normal()).collect(), fused.shape()).unwrap();
        let gf = fused.mul(&weights).unwrap().sum().backward().unwrap();
        let gc = chained.mul(&weights).unwrap().sum().backward().unwrap();
        for t in &ins {
            assert_eq!(gf.get(t).unwrap().to_vec(), gc.get(t).unwrap().to_vec(), "{name}: fused relu gradients");
        }
        // Without a graph (inference) the chunked path must give the same numbers.
        let tracked = ops::conv2d_fused(&x, &k, None, strides, padding, true).unwrap().to_vec();
        let _g = strata_core::no_grad();
        let untracked = ops::conv2d_fused(&x, &k, None, strides, padding, true).unwrap().to_vec();
        assert_eq!(tracked, untracked, "{name}: inference path");
    }
}

#[test]
fn max_pool2d_shapes_strides_paddings() {
    let mut r = Rng::new(7);
    let cases = [
        ([2, 4, 4, 3], (2, 2), (2, 2), Padding::Valid),
        ([1, 5, 5, 2], (2, 2), (2, 2), Padding::Valid),
        ([1, 5, 5, 2], (2, 2), (2, 2), Padding::Same),
        ([1, 6, 5, 1], (3, 3), (1, 2), Padding::Same),
        ([2, 7, 7, 2], (3, 2), (2, 3), Padding::Valid),
    ];
    for (xs, pool, strides, padding) in cases {
        // Distinct values 0.1 apart, so no window has a near-tie for the finite difference to straddle.
        let n: usize = xs.iter().product();
        let mut values: Vec<f32> = (0..n).map(|i| i as f32 * 0.1 - 1.0).collect();
        r.shuffle(&mut values);
        let x = Tensor::variable(values, &xs).unwrap();
        check(&format!("max_pool2d {xs:?} {pool:?} {strides:?} {padding:?}"), &[x], |t| ops::max_pool2d(&t[0], pool, strides, padding).unwrap());
    }
}

#[test]
fn fused_cross_entropy() {
    let mut r = Rng::new(8);
    let logits = var(&mut r, &[4, 5], 0.0);
    let probs = Tensor::variable((0..20).map(|i| ((i * 7) % 5) as f32 / 10.0 + 0.05).collect(), &[4, 5]).unwrap();
    check("softmax_cross_entropy", &[logits.clone(), probs], |t| ops::softmax_cross_entropy(&t[0], &t[1]).unwrap());
    check("sparse_softmax_cross_entropy", &[logits], |t| ops::sparse_softmax_cross_entropy(&t[0], &[0, 4, 2, 2]).unwrap());
}

/// Labels give the numbers of one-hot targets, bit for bit, forward and
/// backward (rows of 85 classes: whole lanes and a tail; more rows than a task).
#[test]
fn labels_give_one_hot_targets_bits() {
    let mut r = Rng::new(10);
    let (rows, classes) = (130, 85);
    let logits = Tensor::variable((0..rows * classes).map(|_| 4.0 * r.normal()).collect(), &[rows, classes]).unwrap();
    let labels: Vec<usize> = (0..rows).map(|_| r.below(classes)).collect();
    let weights = Tensor::new((0..rows).map(|_| r.normal()).collect(), &[rows]).unwrap();
    let sparse = ops::sparse_softmax_cross_entropy(&logits, &labels).unwrap();
    let dense = ops::softmax_cross_entropy(&logits, &Tensor::one_hot(&labels, classes).unwrap()).unwrap();
    let bits = |t: &Tensor| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&sparse), bits(&dense));
    let grad = |loss: &Tensor| loss.mul(&weights).unwrap().sum().backward().unwrap().get(&logits).unwrap().clone();
    assert_eq!(bits(&grad(&sparse)), bits(&grad(&dense)));
}

#[test]
fn a_tensor_used_twice_accumulates_its_gradient() {
    let x = Tensor::variable(vec![3.0], &[1]).unwrap();
    // y = x·x + x  ->  dy/dx = 2x + 1 = 7
    let y = x.mul(&x).unwrap().add(&x).unwrap().sum();
    assert_eq!(y.backward().unwrap().get(&x).unwrap().to_vec(), &[7.0]);
    let mut r = Rng::new(9);
    let a = var(&mut r, &[3, 3], 0.0);
    check("diamond", &[a], |t| {
        let h = t[0].tanh();
        h.matmul(&h).unwrap().add(&h.square()).unwrap()
    });
}

#[test]
fn no_grad_records_nothing() {
    let x = Tensor::variable(vec![1.0, 2.0], &[2]).unwrap();
    let y = {
        let _g = no_grad();
        x.square().sum()
    };
    assert!(!y.requires_grad());
    assert!(y.backward().unwrap().is_empty());
    assert!(x.square().sum().requires_grad());
}

#[test]
fn shape_errors_are_reported_not_panicked() {
    let a = Tensor::zeros(&[2, 3]);
    let b = Tensor::zeros(&[4, 5]);
    let msg = a.matmul(&b).unwrap_err().to_string();
    assert!(msg.contains("matmul") && msg.contains("(2, 3)") && msg.contains("(4, 5)"), "{msg}");
    assert!(a.add(&Tensor::zeros(&[4])).unwrap_err().to_string().contains("broadcast"));
    assert!(a.reshape(&[4, -1]).is_err());
    assert!(a.softmax(2).unwrap_err().to_string().contains("axis 2"));
    let img = Tensor::zeros(&[1, 2, 2, 1]);
    let k = Tensor::zeros(&[3, 3, 1, 4]);
    assert!(ops::conv2d(&img, &k, None, (1, 1), Padding::Valid).unwrap_err().to_string().contains("does not fit"));
    assert!(ops::conv2d(&a, &k, None, (1, 1), Padding::Valid).unwrap_err().to_string().contains("[batch, height, width, channels]"));
    assert!(ops::max_pool2d(&img, (2, 2), (0, 1), Padding::Valid).is_err());
    let logits = Tensor::zeros(&[2, 3]);
    let msg = ops::sparse_softmax_cross_entropy(&logits, &[0, 3]).unwrap_err().to_string();
    assert!(msg.contains("label 3") && msg.contains("sample 1"), "{msg}");
    // No classes: an error naming the shape, not a loss with no values.
    let empty = Tensor::zeros(&[2, 0]);
    let msg = ops::softmax_cross_entropy(&empty, &empty).unwrap_err().to_string();
    assert!(msg.contains("(2, 0)") && msg.contains("at least one class"), "{msg}");
    let msg = ops::sparse_softmax_cross_entropy(&empty, &[0, 0]).unwrap_err().to_string();
    assert!(msg.contains("(2, 0)") && msg.contains("no classes"), "{msg}");
    assert!(Tensor::zeros(&[2]).backward().is_err());
}

#[test]
fn linear_with_bias_and_fused_relu() {
    let mut r = Rng::new(10);
    let (x, k, b) = (var(&mut r, &[5, 4], 0.0), var(&mut r, &[4, 3], 0.0), var(&mut r, &[3], 0.0));
    check("linear", &[x.clone(), k.clone(), b.clone()], |t| ops::linear(&t[0], &t[1], Some(&t[2]), false).unwrap());
    check("linear no bias", &[x.clone(), k.clone()], |t| ops::linear(&t[0], &t[1], None, false).unwrap());
    // Fused relu equals linear followed by relu, values and gradients.
    let fused = ops::linear(&x, &k, Some(&b), true).unwrap();
    let chained = ops::linear(&x, &k, Some(&b), false).unwrap().relu();
    assert_eq!(fused.to_vec(), chained.to_vec());
    let w = Tensor::new((0..15).map(|_| r.normal()).collect(), &[5, 3]).unwrap();
    let (gf, gc) = (fused.mul(&w).unwrap().sum().backward().unwrap(), chained.mul(&w).unwrap().sum().backward().unwrap());
    for t in [&x, &k, &b] {
        assert_eq!(gf.get(t).unwrap().to_vec(), gc.get(t).unwrap().to_vec());
    }
    assert!(ops::linear(&x, &Tensor::zeros(&[5, 3]), None, false).unwrap_err().to_string().contains("linear"));
}

#[test]
fn the_activation_catalogue() {
    let mut r = Rng::new(12);
    // Away from the kinks at 0 and ±3 (hard_sigmoid) and 6 (relu6).
    let x = Tensor::variable(
        (0..24).map(|_| r.normal() * 2.0).map(|v: f32| if (v.abs() - 3.0).abs() < 0.1 || v.abs() < 0.1 { v + 0.3 } else { v }).collect(),
        &[4, 6],
    )
    .unwrap();
    check("relu6", &[x.clone()], |t| t[0].relu6());
    check("leaky_relu", &[x.clone()], |t| t[0].leaky_relu(0.2));
    check("elu", &[x.clone()], |t| t[0].elu(1.0));
    check("selu", &[x.clone()], |t| t[0].selu());
    check("softplus", &[x.clone()], |t| t[0].softplus());
    check("softsign", &[x.clone()], |t| t[0].softsign());
    check("silu", &[x.clone()], |t| t[0].silu());
    check("hard_sigmoid", &[x.clone()], |t| t[0].hard_sigmoid());
    check("hard_silu", &[x.clone()], |t| t[0].hard_silu());
    check("mish", &[x.clone()], |t| t[0].mish());
    check("gelu", &[x.clone()], |t| t[0].gelu(false));
    check("gelu tanh", &[x], |t| t[0].gelu(true));
}

#[test]
fn sqrt_log_cosh_and_max_axis() {
    let mut r = Rng::new(13);
    let x = var(&mut r, &[3, 4], 0.2);
    check("log_cosh", &[x.clone()], |t| t[0].log_cosh());
    let positive = Tensor::variable(x.to_vec().iter().map(|v| v.abs() + 0.5).collect(), &[3, 4]).unwrap();
    check("sqrt", &[positive], |t| t[0].sqrt());
    let mut values: Vec<f32> = (0..24).map(|i| i as f32 * 0.1).collect();
    r.shuffle(&mut values);
    let d = Tensor::variable(values, &[2, 3, 4]).unwrap();
    for axis in [0, 1, -1] {
        check("max_axis", &[d.clone()], |t| t[0].max_axis(axis, false).unwrap());
    }
}

#[test]
fn avg_pool2d_shapes_strides_paddings() {
    let mut r = Rng::new(14);
    for (xs, pool, strides, padding) in [
        ([2, 4, 4, 3], (2, 2), (2, 2), Padding::Valid),
        ([1, 5, 5, 2], (2, 2), (2, 2), Padding::Same),
        ([1, 6, 5, 1], (3, 3), (1, 2), Padding::Same),
    ] {
        let x = var(&mut r, &xs, 0.0);
        check(&format!("avg_pool2d {xs:?} {pool:?} {strides:?} {padding:?}"), &[x], |t| ops::avg_pool2d(&t[0], pool, strides, padding).unwrap());
    }
}

#[test]
fn permute_pad_crop_and_upsample() {
    let mut rng = Rng::new(21);
    let x = var(&mut rng, &[2, 3, 4, 2], 0.0);
    check("permute 0321", &[x.clone()], |t| t[0].permute(&[0, 3, 2, 1]).unwrap().square());
    check("permute 2-d", &[var(&mut rng, &[3, 5], 0.0)], |t| t[0].permute(&[1, 0]).unwrap().exp());
    check("pad2d", &[x.clone()], |t| t[0].pad2d((1, 2), (0, 1)).unwrap().square());
    check("crop2d", &[x.clone()], |t| t[0].pad2d((-1, 0), (-1, -2)).unwrap().square());
    check("upsample2d", &[x.clone()], |t| t[0].upsample2d((2, 3)).unwrap().square());
    let p = x.permute(&[0, 2, 1, 3]).unwrap();
    assert_eq!(p.shape(), &[2, 4, 3, 2]);
    assert_eq!(p.data()[2], x.data()[8], "element (0, 1, 0, 0) of the output is (0, 0, 1, 0) of the input");
    assert!(x.permute(&[0, 0, 1, 2]).is_err() && x.permute(&[0, 1]).is_err());
    assert!(x.pad2d((-3, 0), (0, 0)).is_err() && x.upsample2d((0, 1)).is_err());
}

#[test]
fn relu_with_slope_ceiling_and_threshold() {
    let mut rng = Rng::new(23);
    // Values kept away from the kinks at -0.5, 0, 0.5 and 1.5.
    let data: Vec<f32> = (0..24).map(|i| -2.2 + i as f32 * 0.19 + 0.03).filter(|v| [-0.5f32, 0.0, 0.5, 1.5].iter().all(|k| (v - k).abs() > 0.03)).collect();
    let x = Tensor::variable(data.clone(), &[data.len()]).unwrap();
    let _ = &mut rng;
    check("relu slope", &[x.clone()], |t| t[0].relu_with(0.1, None, 0.0));
    check("relu max", &[x.clone()], |t| t[0].relu_with(0.0, Some(1.5), 0.0));
    check("relu threshold", &[x.clone()], |t| t[0].relu_with(0.2, Some(1.5), 0.5));
    check("relu negative threshold", &[x.clone()], |t| t[0].relu_with(0.3, None, -0.5));
}

#[test]
fn dilated_and_grouped_kernels() {
    let mut rng = Rng::new(31);
    let k = var(&mut rng, &[2, 3, 2, 6], 0.0);
    check("expand_kernel", &[k.clone()], |t| t[0].expand_kernel((2, 3), 3).unwrap().square());
    let e = k.expand_kernel((2, 3), 3).unwrap();
    assert_eq!(e.shape(), &[3, 7, 6, 6]);
    // Tap (1, 2), input channel 3 (group 1, index 1), output channel 2 (group 1) comes from k[1, 2, 1, 2].
    assert_eq!(e.data()[((2 * 7 + 6) * 6 + 3) * 6 + 2], k.data()[((3 + 2) * 2 + 1) * 6 + 2]);
    assert_eq!(e.data()[7 * 6 * 6], 0.0, "between taps");
    assert_eq!(e.data()[3 * 6], 0.0, "input channel 3 is not in output channel 0's group");
    assert!(k.expand_kernel((1, 1), 4).is_err());
    // A dilated convolution = the convolution with the expanded kernel.
    let x = var(&mut rng, &[1, 7, 9, 6], 0.0);
    check("conv2d dilated grouped", &[x.clone(), k.clone()], |t| ops::conv2d(&t[0], &t[1].expand_kernel((2, 3), 3).unwrap(), None, (1, 1), Padding::Same).unwrap());
}

#[test]
fn conv_relu_max_pool_is_the_two_ops_in_one() {
    let mut r = Rng::new(23);
    for (xs, (kh, kw), f, strides, padding, pool) in [
        ([3, 13, 13, 4], (3, 3), 6, (1, 1), Padding::Valid, (2, 2)),
        ([2, 9, 8, 3], (3, 2), 70, (1, 1), Padding::Same, (2, 3)),
        ([2, 7, 7, 2], (2, 2), 3, (2, 1), Padding::Valid, (3, 1)),
        ([1, 5, 5, 1], (3, 3), 2, (1, 1), Padding::Valid, (2, 2)),
        // Kernel rows of 16 values or more: the backward sums each window's maximum alone.
        ([3, 13, 13, 16], (3, 3), 20, (1, 1), Padding::Valid, (2, 2)),
        // 3x3 pooled 2x2: the input gradient a window's region at a time, in
        // slices of 16 channels (the last partial, padded; the headline's shape).
        ([2, 10, 10, 20], (3, 3), 33, (1, 1), Padding::Same, (2, 2)),
        ([2, 13, 13, 32], (3, 3), 64, (1, 1), Padding::Valid, (2, 2)),
        ([2, 9, 8, 8], (5, 4), 70, (1, 1), Padding::Same, (2, 3)),
        ([5, 11, 9, 50], (3, 3), 5, (2, 1), Padding::Valid, (3, 1)),
        ([9, 4, 4, 16], (1, 1), 17, (1, 1), Padding::Same, (2, 2)),
    ] {
        let (x, k, b) = (var(&mut r, &xs, 0.0), var(&mut r, &[kh, kw, xs[3], f], 0.0), var(&mut r, &[f], 0.0));
        let name = format!("conv2d_relu_max_pool {xs:?} k{kh}x{kw} f{f} s{strides:?} {padding:?} pool {pool:?}");
        let fused = ops::conv2d_relu_max_pool(&x, &k, Some(&b), strides, padding, pool).unwrap();
        let two = ops::max_pool2d(&ops::conv2d_fused(&x, &k, Some(&b), strides, padding, true).unwrap(), pool, pool, Padding::Valid).unwrap();
        assert_eq!(fused.shape(), two.shape(), "{name}");
        assert_eq!(fused.to_vec(), two.to_vec(), "{name}: values");
        let weights = Tensor::new((0..fused.numel()).map(|_| r.normal()).collect(), fused.shape()).unwrap();
        let gf = fused.mul(&weights).unwrap().sum().backward().unwrap();
        let gt = two.mul(&weights).unwrap().sum().backward().unwrap();
        for (i, t) in [&x, &k, &b].into_iter().enumerate() {
            for (a, e) in gf.get(t).unwrap().to_vec().iter().zip(gt.get(t).unwrap().to_vec()) {
                assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{name}: input {i}: {a} vs {e}");
            }
        }
        let _g = no_grad();
        assert_eq!(ops::conv2d_relu_max_pool(&x, &k, Some(&b), strides, padding, pool).unwrap().to_vec(), fused.to_vec(), "{name}: inference path");
    }
    // And against finite differences, on inputs whose pooled maxima are well separated.
    let x = Tensor::variable((0..2 * 6 * 6).map(|i| ((i * 37 % 71) as f32 - 35.0) * 0.1).collect(), &[2, 6, 6, 1]).unwrap();
    let (k, b) = (var(&mut r, &[3, 3, 1, 2], 0.3), var(&mut r, &[2], 0.3));
    check("conv2d_relu_max_pool", &[x, k, b], |t| ops::conv2d_relu_max_pool(&t[0], &t[1], Some(&t[2]), (1, 1), Padding::Valid, (2, 2)).unwrap());
    // An empty batch has zero gradients of the right sizes, on both conv ops.
    let (x, k, b) = (Tensor::variable(vec![], &[0, 6, 6, 16]).unwrap(), var(&mut r, &[3, 3, 16, 4], 0.0), var(&mut r, &[4], 0.0));
    for y in [ops::conv2d(&x, &k, Some(&b), (1, 1), Padding::Valid).unwrap(), ops::conv2d_relu_max_pool(&x, &k, Some(&b), (1, 1), Padding::Valid, (2, 2)).unwrap()] {
        let g = y.sum().backward().unwrap();
        assert_eq!(g.get(&k).unwrap().to_vec(), vec![0.0; k.numel()]);
        assert_eq!(g.get(&b).unwrap().to_vec(), vec![0.0; 4]);
    }
    let no_channels = ops::conv2d(&Tensor::new(vec![], &[1, 4, 4, 0]).unwrap(), &Tensor::new(vec![], &[3, 3, 0, 2]).unwrap(), None, (1, 1), Padding::Valid);
    assert!(no_channels.unwrap_err().to_string().contains("at least one input channel"));
    let bad = ops::conv2d_relu_max_pool(&var(&mut r, &[1, 4, 4, 1], 0.0), &var(&mut r, &[3, 3, 1, 1], 0.0), None, (1, 1), Padding::Valid, (3, 3));
    assert!(bad.unwrap_err().to_string().contains("pool does not fit"));
}

#[test]
fn slicing_and_joining() {
    let mut r = Rng::new(21);
    let x = var(&mut r, &[3, 5, 4], 0.0);
    check("narrow axis 1", &[x.clone()], |t| t[0].narrow(1, 1, 3).unwrap());
    check("narrow last axis", &[x.clone()], |t| t[0].narrow(-1, 2, 2).unwrap());
    check("select", &[x.clone()], |t| t[0].select(0, 2).unwrap());
    check("unsqueeze + reshape (views)", &[x.clone()], |t| t[0].unsqueeze(1).unwrap().reshape(&[3, 20]).unwrap().square());
    check("gather with repeats", &[x.clone()], |t| t[0].gather(1, &[4, 0, 4, 2]).unwrap());
    let src = var(&mut r, &[3, 2, 4], 0.0);
    check("scatter_add", &[x.clone(), src.clone()], |t| t[0].scatter_add(1, &[3, 3], &t[1]).unwrap());
    let (a, b) = (var(&mut r, &[2, 3], 0.0), var(&mut r, &[2, 5], 0.0));
    check("concat", &[a.clone(), b.clone()], |t| Tensor::concat(&[t[0].clone(), t[1].clone(), t[0].clone()], 1).unwrap());
    let c = var(&mut r, &[2, 3], 0.0);
    check("stack", &[a.clone(), c.clone()], |t| Tensor::stack(&[t[0].clone(), t[1].clone()], 1).unwrap());
    // Pieces used twice, one not at all: the several-output node gets a gradient for some of its outputs.
    check("split", &[x.clone()], |t| {
        let p = t[0].split(1, &[2, 1, 2]).unwrap();
        p[0].mul(&p[2]).unwrap().add(&p[0]).unwrap()
    });
    let cond = Tensor::new((0..12).map(|i| (i % 3 == 0) as i32 as f32).collect(), &[3, 4]).unwrap();
    let (u, v) = (var(&mut r, &[3, 4], 0.0), var(&mut r, &[4], 0.0));
    check("where", &[u.clone(), v.clone()], |t| Tensor::where_(&cond, &t[0], &t[1]).unwrap());
    let (p, q) = (var(&mut r, &[2, 3, 4], 0.0), var(&mut r, &[2, 4, 5], 0.0));
    check("bmm", &[p.clone(), q.clone()], |t| t[0].bmm(&t[1]).unwrap());
    check("transpose", &[p.clone()], |t| t[0].transpose(0, -1).unwrap());
}

#[test]
fn split_is_one_node_and_slices_check_their_ranges() {
    let x = Tensor::variable((0..12).map(|i| i as f32).collect(), &[2, 6]).unwrap();
    let parts = x.split(1, &[2, 4]).unwrap();
    assert_eq!(parts[0].op_name(), Some("split"));
    assert_eq!(parts[1].to_vec(), vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0]);
    let grads = parts[1].sum().backward().unwrap();
    assert_eq!(grads.get(&x).unwrap().to_vec(), &[0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    // A reshape shares its input's numbers.
    let y = x.reshape(&[3, 4]).unwrap();
    assert_eq!(y.to_vec(), x.to_vec());
    for err in [
        x.narrow(1, 5, 2).unwrap_err(),
        x.narrow(2, 0, 1).unwrap_err(),
        x.gather(0, &[2]).unwrap_err(),
        x.split(1, &[2, 2]).unwrap_err(),
        Tensor::concat(&[x.clone(), Tensor::zeros(&[3, 6])], 1).unwrap_err(),
        Tensor::concat(&[], 0).unwrap_err(),
        Tensor::stack(&[x.clone(), Tensor::zeros(&[2, 5])], 0).unwrap_err(),
        x.bmm(&x).unwrap_err(),
        x.scatter_add(1, &[0], &Tensor::zeros(&[2, 2])).unwrap_err(),
    ] {
        assert!(err.to_string().contains("(2, 6)") || err.to_string().contains("(3, 6)") || err.to_string().contains("at least one"), "{err}");
    }
}

#[test]
fn a_split_whose_outputs_get_no_gradient_passes_none_back() {
    let x = Tensor::variable(vec![1.0, -2.0, 3.0, -4.0], &[4]).unwrap();
    let y = Tensor::variable(vec![5.0; 2], &[2]).unwrap();
    let parts = x.split(0, &[2, 2]).unwrap();
    // The pieces only choose (where's condition): no gradient reaches x.
    let out = Tensor::where_(&parts[0], &y, &parts[1]).unwrap().sum();
    let grads = out.backward().unwrap();
    assert_eq!(grads.get(&y).unwrap().to_vec(), &[1.0, 1.0]);
    assert!(grads.get(&x).is_none_or(|g| g.to_vec().iter().all(|v| *v == 0.0)), "{:?}", grads.get(&x));
}

#[test]
fn take_by_integer_ids() {
    let mut r = Rng::new(21);
    // An embedding lookup: ids [2, 3] (one repeated) into a [5, 4] table.
    let ids = Tensor::from_i64(vec![4, 0, 2, 2, 1, 4], &[2, 3]).unwrap();
    check("take axis 0", &[var(&mut r, &[5, 4], 0.0)], |t| t[0].take(&ids, 0).unwrap());
    check("take axis 1", &[var(&mut r, &[3, 5], 0.0)], |t| t[0].take(&ids, 1).unwrap());
}

#[test]
fn conv2d_transpose_gradients_and_adjointness() {
    let mut r = Rng::new(12);
    for (h, w, k, s, padding, op) in [
        (3, 4, (3, 3), (1, 1), Padding::Valid, None),
        (3, 3, (3, 2), (2, 2), Padding::Same, None),
        (2, 3, (2, 3), (2, 3), Padding::Valid, Some((1, 2))),
        (3, 2, (4, 4), (2, 2), Padding::Same, Some((1, 1))),
        (2, 2, (1, 1), (3, 2), Padding::Valid, None),
    ] {
        let (x, kernel, bias) = (var(&mut r, &[2, h, w, 3], 0.0), var(&mut r, &[k.0, k.1, 2, 3], 0.0), var(&mut r, &[2], 0.0));
        check("conv2d_transpose", &[x.clone(), kernel.clone(), bias.clone()], |t| ops::conv2d_transpose(&t[0], &t[1], Some(&t[2]), s, padding, op).unwrap());
        // It is the convolution's adjoint: <conv(y), x> = <y, conv_transpose(x)>.
        let y = {
            let _g = no_grad();
            ops::conv2d_transpose(&x, &kernel, None, s, padding, op).unwrap()
        };
        let probe = Tensor::new((0..y.numel()).map(|_| r.normal()).collect(), y.shape()).unwrap();
        let conv = ops::conv2d(&probe, &kernel, None, s, padding).unwrap();
        assert_eq!(conv.shape(), x.shape(), "the convolution maps the output's shape back to the input's");
        let lhs: f32 = conv.to_vec().iter().zip(x.to_vec()).map(|(a, b)| a * b).sum();
        let rhs: f32 = probe.to_vec().iter().zip(y.to_vec()).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0), "adjoint: {lhs} vs {rhs}");
    }
    // Impossible geometry is an error, not a panic.
    let (x, kernel) = (Tensor::zeros(&[1, 2, 2, 3]), Tensor::zeros(&[3, 3, 2, 4]));
    assert!(ops::conv2d_transpose(&x, &kernel, None, (1, 1), Padding::Valid, None).unwrap_err().to_string().contains("kernel"));
}

#[test]
fn resize_and_affine_transform() {
    use strata_core::ops::{FillMode, Interpolation};
    let mut r = Rng::new(13);
    let x = var(&mut r, &[2, 4, 5, 2], 0.0);
    for interpolation in [Interpolation::Bilinear, Interpolation::Nearest] {
        for size in [(7, 3), (2, 9)] {
            check("resize", &[x.clone()], |t| t[0].resize(size, interpolation).unwrap());
        }
        for fill in [FillMode::Constant, FillMode::Nearest, FillMode::Wrap, FillMode::Reflect] {
            let t = [[0.9, -0.3, 0.7, 0.25, 1.1, -0.4, 0.0, 0.0], [1.2, 0.1, -1.3, 0.0, 0.8, 0.6, 0.01, -0.02]];
            check("affine_transform", &[x.clone()], |v| v[0].affine_transform(&t, interpolation, fill, 0.5).unwrap());
        }
    }
    let identity = x.affine_transform(&[[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]], Interpolation::Bilinear, FillMode::Reflect, 0.0).unwrap();
    assert_eq!(identity.to_vec(), x.to_vec());
    assert_eq!(x.resize((4, 5), Interpolation::Bilinear).unwrap().to_vec(), x.to_vec());
}

/// A variable of normal values times `s` (recurrent weights small enough that the gates do not saturate).
fn scaled(r: &mut Rng, shape: &[usize], s: f32) -> Tensor {
    let v = var(r, shape, 0.0);
    Tensor::variable(v.to_vec().iter().map(|x| x * s).collect(), shape).unwrap()
}

/// Dropout masks of 0 and 2 (rate 0.5) for `gates` gates, on the inputs and on the states.
fn dropout_masks(r: &mut Rng, gates: usize, (b, d, h): (usize, usize, usize)) -> RecurrentDropout {
    let mut mask = |n: usize| Tensor::new((0..gates * b * n).map(|_| if r.uniform() < 0.5 { 0.0 } else { 2.0 }).collect(), &[gates, b, n]).unwrap();
    RecurrentDropout { inputs: Some(mask(d)), states: Some(mask(h)) }
}

#[test]
fn lstm_through_time() {
    let mut r = Rng::new(7);
    let (b, t, d, h) = (2, 4, 3, 5);
    let inputs = [
        scaled(&mut r, &[b, t, d], 1.0),
        scaled(&mut r, &[d, 4 * h], 0.5),
        scaled(&mut r, &[h, 4 * h], 0.5),
        scaled(&mut r, &[4 * h], 0.5),
        scaled(&mut r, &[b, h], 0.5),
        scaled(&mut r, &[b, h], 0.5),
    ];
    let both = |y: [Tensor; 2]| Tensor::concat(&y, 2).unwrap();
    check("lstm", &inputs, |i| both(i[0].lstm(&i[1], &i[2], &i[3], &i[4], &i[5], &RecurrentDropout::default()).unwrap()));
    // Each output alone: the other's gradient is none.
    for (name, output) in [("lstm's h alone", 0), ("lstm's c alone", 1)] {
        check(name, &inputs, |i| i[0].lstm(&i[1], &i[2], &i[3], &i[4], &i[5], &RecurrentDropout::default()).unwrap()[output].clone());
    }
    let dropout = dropout_masks(&mut r, 4, (b, d, h));
    check("lstm with dropout masks", &inputs, |i| both(i[0].lstm(&i[1], &i[2], &i[3], &i[4], &i[5], &dropout).unwrap()));
}

#[test]
fn gru_through_time() {
    let mut r = Rng::new(8);
    let (b, t, d, h) = (2, 4, 3, 5);
    let inputs = [
        scaled(&mut r, &[b, t, d], 1.0),
        scaled(&mut r, &[d, 3 * h], 0.5),
        scaled(&mut r, &[h, 3 * h], 0.5),
        scaled(&mut r, &[3 * h], 0.5),
        scaled(&mut r, &[3 * h], 0.5),
        scaled(&mut r, &[b, h], 0.5),
    ];
    check("gru", &inputs, |i| i[0].gru(&i[1], &i[2], [&i[3], &i[4]], &i[5], &RecurrentDropout::default()).unwrap());
    let dropout = dropout_masks(&mut r, 3, (b, d, h));
    check("gru with dropout masks", &inputs, |i| i[0].gru(&i[1], &i[2], [&i[3], &i[4]], &i[5], &dropout).unwrap());
}

#[test]
fn gru_reset_before_through_time() {
    let mut r = Rng::new(9);
    let (b, t, d, h) = (3, 4, 2, 5);
    let inputs = [
        scaled(&mut r, &[b, t, d], 1.0),
        scaled(&mut r, &[d, 3 * h], 0.5),
        scaled(&mut r, &[h, 3 * h], 0.5),
        scaled(&mut r, &[3 * h], 0.5),
        scaled(&mut r, &[b, h], 0.5),
    ];
    check("gru_reset_before", &inputs, |i| i[0].gru_reset_before(&i[1], &i[2], &i[3], &i[4], &RecurrentDropout::default()).unwrap());
    let dropout = dropout_masks(&mut r, 3, (b, d, h));
    check("gru_reset_before with dropout masks", &inputs, |i| i[0].gru_reset_before(&i[1], &i[2], &i[3], &i[4], &dropout).unwrap());
}

#[test]
fn simple_rnn_through_time() {
    let mut r = Rng::new(9);
    let (b, t, d, h) = (2, 4, 3, 5);
    let inputs = [scaled(&mut r, &[b, t, d], 1.0), scaled(&mut r, &[d, h], 0.5), scaled(&mut r, &[h, h], 0.5), scaled(&mut r, &[h], 0.5), scaled(&mut r, &[b, h], 0.5)];
    check("simple_rnn", &inputs, |i| i[0].simple_rnn(&i[1], &i[2], &i[3], &i[4], &RecurrentDropout::default()).unwrap());
    let dropout = dropout_masks(&mut r, 1, (b, d, h));
    check("simple_rnn with dropout masks", &inputs, |i| i[0].simple_rnn(&i[1], &i[2], &i[3], &i[4], &dropout).unwrap());
}

/// The LSTM op gives the same bits, values and gradients, on any number of
/// threads: three parts of units (run by one, two or three threads, as
/// stages of a team), on plain input and on an embedding's rows (whose
/// weight gradients add up in blocks of steps: six steps, a block and a
/// part of one), with and without dropout masks.
#[test]
fn lstm_gives_the_same_bits_on_any_thread_count() {
    let mut r = Rng::new(13);
    let (b, t, d, h, rows) = (5, 6, 7, 260, 9);
    let table = scaled(&mut r, &[rows, d], 1.0);
    let (k, u, bias) = (scaled(&mut r, &[d, 4 * h], 0.3), scaled(&mut r, &[h, 4 * h], 0.1), scaled(&mut r, &[4 * h], 0.3));
    let (h0, c0) = (scaled(&mut r, &[b, h], 0.5), scaled(&mut r, &[b, h], 0.5));
    let ids = Tensor::from_i32((0..b * t).map(|i| (i * 4 % rows) as i32).collect(), &[b, t]).unwrap();
    let masks = dropout_masks(&mut r, 4, (b, d, h));
    let weights = scaled(&mut r, &[b, t, 2 * h], 1.0);
    let run = |threads: usize, lookup: bool, dropout: &RecurrentDropout| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let x = if lookup { table.take(&ids, 0).unwrap() } else { Tensor::variable(table.take(&ids, 0).unwrap().to_vec(), &[b, t, d]).unwrap() };
            let y = Tensor::concat(&x.lstm(&k, &u, &bias, &h0, &c0, dropout).unwrap(), 2).unwrap();
            let grads = y.mul(&weights).unwrap().sum().backward().unwrap();
            let mut bits: Vec<u32> = y.to_vec().iter().map(|v| v.to_bits()).collect();
            for p in [&table, &k, &u, &bias, &h0, &c0] {
                bits.extend(grads.get(p).map(|g| g.to_vec()).unwrap_or_default().iter().map(|v| v.to_bits()));
            }
            bits
        })
    };
    for lookup in [true, false] {
        for dropout in [RecurrentDropout::default(), masks.clone()] {
            let one = run(1, lookup, &dropout);
            for threads in [2, 3] {
                assert!(one == run(threads, lookup, &dropout), "{threads} threads differ from one (lookup: {lookup}, masks: {})", dropout.states.is_some());
            }
        }
    }
}

/// The LSTM op with more units than one part holds (its units run in parts
/// of at most 128) equals the same LSTM written step by step in ops, values
/// and gradients, with and without dropout masks.
#[test]
fn lstm_in_parts_matches_its_steps_as_ops() {
    let mut r = Rng::new(11);
    let (b, t, d, h) = (3, 4, 5, 130);
    let x = scaled(&mut r, &[b, t, d], 1.0);
    let (k, u, bias) = (scaled(&mut r, &[d, 4 * h], 0.3), scaled(&mut r, &[h, 4 * h], 0.1), scaled(&mut r, &[4 * h], 0.3));
    let (h0, c0) = (scaled(&mut r, &[b, h], 0.5), scaled(&mut r, &[b, h], 0.5));
    let params = [x.clone(), k.clone(), u.clone(), bias.clone(), h0.clone(), c0.clone()];
    for dropout in [RecurrentDropout::default(), dropout_masks(&mut r, 4, (b, d, h))] {
        let fused = Tensor::concat(&x.lstm(&k, &u, &bias, &h0, &c0, &dropout).unwrap(), 2).unwrap();
        // Step by step: gate g reads x through its input mask and h through its state mask.
        let gate_mask = |m: &Option<Tensor>, g: usize| m.as_ref().map(|m| m.select(0, g).unwrap());
        let (mut hs, mut cs) = (h0.clone(), c0.clone());
        let mut steps = Vec::new();
        for s in 0..t {
            let xs = x.select(1, s).unwrap();
            let z: Vec<Tensor> = (0..4)
                .map(|g| {
                    let read = |v: &Tensor, m: Option<Tensor>| m.map_or(v.clone(), |m| v.mul(&m).unwrap());
                    let xg = read(&xs, gate_mask(&dropout.inputs, g)).matmul(&k.narrow(1, g * h, h).unwrap()).unwrap();
                    let hg = read(&hs, gate_mask(&dropout.states, g)).matmul(&u.narrow(1, g * h, h).unwrap()).unwrap();
                    xg.add(&hg).unwrap().add(&bias.narrow(0, g * h, h).unwrap()).unwrap()
                })
                .collect();
            let (i, f, c_hat, o) = (z[0].sigmoid(), z[1].sigmoid(), z[2].tanh(), z[3].sigmoid());
            cs = f.mul(&cs).unwrap().add(&i.mul(&c_hat).unwrap()).unwrap();
            hs = o.mul(&cs.tanh()).unwrap();
            steps.push(Tensor::concat(&[hs.clone(), cs.clone()], 1).unwrap());
        }
        let unrolled = Tensor::stack(&steps, 1).unwrap();
        let close = |what: &str, a: &[f32], b: &[f32]| {
            let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst < 2e-5, "{what}: largest difference {worst}");
        };
        close("output", &fused.to_vec(), &unrolled.to_vec());
        let weights = Tensor::new((0..fused.numel()).map(|_| r.normal()).collect(), fused.shape()).unwrap();
        let (gf, gu) = (fused.mul(&weights).unwrap().sum().backward().unwrap(), unrolled.mul(&weights).unwrap().sum().backward().unwrap());
        for (i, p) in params.iter().enumerate() {
            close(&format!("gradient {i}"), &gf.get(p).unwrap().to_vec(), &gu.get(p).unwrap().to_vec());
        }
    }
}
