//! Interpretability: saliency is the class score's gradient (checked against
//! finite differences), Integrated Gradients are complete (their sum is the
//! score's change), Grad-CAM looks where the class is decided.

use strata::activations::Activation;
use strata::explain;
use strata::layers::{LayerOptions, Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPooling2D};
use strata::model::{FitOptions, Model, Sequential};
use strata::{Rng, Tensor};

fn small_model(activation: Activation, seed: u64) -> Model {
    let mut m = Sequential::with_seed(seed);
    m.add(Conv2D::new(4, (3, 3)).activation(activation).input_shape([8, 8, 2])).unwrap();
    m.add(MaxPooling2D::new((2, 2))).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(3).activation(Activation::Softmax)).unwrap();
    m.build(&[8, 8, 2]).unwrap();
    m.into_model()
}

fn random_image(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    Tensor::new((0..shape.iter().product::<usize>()).map(|_| rng.uniform()).collect(), shape).unwrap()
}

#[test]
fn saliency_is_the_class_scores_gradient() {
    // Smooth everywhere (no pooling, tanh), so that differences converge.
    let mut m = Sequential::with_seed(1);
    m.add(Conv2D::new(4, (3, 3)).activation(Activation::Tanh).input_shape([8, 8, 2])).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(3).activation(Activation::Softmax)).unwrap();
    m.build(&[8, 8, 2]).unwrap();
    let model = m.into_model();
    let image = random_image(&[8, 8, 2], 2);
    let class = 1;
    let grad = explain::saliency(&model, &image, class).unwrap();
    assert_eq!(grad.shape(), [8, 8, 2]);
    let score = |x: &[f32]| explain::scores(&model, &Tensor::new(x.to_vec(), &[8, 8, 2]).unwrap()).unwrap()[class] as f64;
    let (values, g) = (image.to_vec(), grad.to_vec());
    let eps = 1e-3;
    let mut worst = 0f64;
    for i in 0..values.len() {
        let (mut up, mut down) = (values.clone(), values.clone());
        up[i] += eps;
        down[i] -= eps;
        let fd = (score(&up) - score(&down)) / (2.0 * eps as f64);
        let scale = g.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        worst = worst.max((fd - g[i] as f64).abs() / scale);
    }
    eprintln!("saliency vs finite differences: worst {worst:e} of the largest gradient");
    assert!(worst < 1e-2, "saliency differs from finite differences by {worst:e} of its largest value");
    let map = explain::saliency_map(&grad).unwrap();
    assert_eq!(map.shape(), [8, 8]);
    assert_eq!(map.to_vec()[0], g[0].abs().max(g[1].abs()));
}

#[test]
fn integrated_gradients_add_up_to_the_change_in_score() {
    let model = small_model(Activation::Relu, 3);
    for seed in 0..3 {
        let image = random_image(&[8, 8, 2], 10 + seed);
        let class = seed as usize;
        let ig = explain::integrated_gradients(&model, &image, None, class, 128).unwrap();
        let scores = explain::scores(&model, &image).unwrap();
        assert!((ig.score - scores[class]).abs() < 1e-6);
        assert_eq!(ig.values.shape(), [8, 8, 2]);
        eprintln!("integrated gradients, class {class}: gap {:.4}% (128 steps, black baseline)", ig.completeness_gap() * 100.0);
        assert!(ig.completeness_gap() < 0.01, "attributions sum to within {:.3}% of f(x) - f(baseline)", ig.completeness_gap() * 100.0);
        let baseline = random_image(&[8, 8, 2], 99);
        let other = explain::integrated_gradients(&model, &image, Some(&baseline), class, 256).unwrap();
        assert!(other.completeness_gap() < 0.01, "with a random baseline: {:.3}%", other.completeness_gap() * 100.0);
    }
    let image = random_image(&[8, 8, 2], 1);
    assert!(explain::integrated_gradients(&model, &image, None, 0, 0).unwrap_err().to_string().contains("--steps"));
    assert!(explain::integrated_gradients(&model, &image, Some(&Tensor::zeros(&[3])), 0, 8).unwrap_err().to_string().contains("baseline"));
}

/// Images 16x16 of noise with a bright bar in the top-left quadrant: the
/// class is the bar's direction (0: horizontal, 1: vertical); the other
/// quadrants hold only noise.
fn quadrant_task(n: usize, seed: u64) -> (Tensor, Tensor, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let (mut x, mut y, mut labels) = (vec![0f32; n * 256], vec![0f32; n * 2], Vec::new());
    for i in 0..n {
        let image = &mut x[i * 256..(i + 1) * 256];
        image.iter_mut().for_each(|v| *v = 0.4 * rng.uniform());
        let label = (rng.uniform() < 0.5) as usize;
        let (top, left) = (1 + (rng.uniform() * 2.0) as usize, 1 + (rng.uniform() * 2.0) as usize);
        for k in 0..5 {
            let (r, c) = if label == 0 { (top + 2, left + k) } else { (top + k, left + 2) };
            image[r * 16 + c] = 1.0;
        }
        y[i * 2 + label] = 1.0;
        labels.push(label);
    }
    (Tensor::new(x, &[n, 16, 16, 1]).unwrap(), Tensor::new(y, &[n, 2]).unwrap(), labels)
}

#[test]
fn grad_cam_looks_at_the_quadrant_that_decides_the_class() {
    let mut m = Sequential::with_seed(7);
    m.add(Conv2D::new(8, (3, 3)).padding("same").activation(Activation::Relu).input_shape([16, 16, 1])).unwrap();
    m.add(Conv2D::new(16, (3, 3)).padding("same").activation(Activation::Relu)).unwrap();
    m.add(MaxPooling2D::new((2, 2))).unwrap();
    m.add(Conv2D::new(16, (3, 3)).padding("same").activation(Activation::Relu).named("last_conv")).unwrap();
    m.add(GlobalAveragePooling2D::new()).unwrap();
    m.add(Dense::new(2).activation(Activation::Softmax)).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    let (x, y, _) = quadrant_task(1500, 1);
    m.fit(&x, &y, FitOptions { epochs: 8, batch_size: 32, verbose: 0, ..Default::default() }).unwrap();
    let mut model = m.into_model();
    let (tx, ty, labels) = quadrant_task(200, 2);
    let accuracy = model.evaluate(&tx, &ty, 100).unwrap().get("accuracy").unwrap();
    assert!(accuracy > 0.9, "the task is learnt (accuracy {accuracy})");
    assert_eq!(explain::last_feature_map_layer(&model).unwrap(), "last_conv");
    let mut shares = Vec::new();
    for (i, &label) in labels.iter().enumerate().take(40) {
        let image = Tensor::new(tx.to_vec()[i * 256..(i + 1) * 256].to_vec(), &[16, 16, 1]).unwrap();
        let cam = explain::grad_cam(&model, &image, label, None).unwrap();
        assert_eq!((cam.layer.as_str(), cam.map.shape(), cam.coarse.shape()), ("last_conv", &[16usize, 16][..], &[8usize, 8][..]));
        let map = cam.map.to_vec();
        let total: f32 = map.iter().sum();
        let top_left: f32 = (0..8).flat_map(|r| (0..8).map(move |c| r * 16 + c)).map(|k| map[k]).sum();
        if total > 0.0 {
            shares.push(top_left / total);
        }
    }
    shares.sort_by(f32::total_cmp);
    let median = shares[shares.len() / 2];
    eprintln!("grad-cam: share of mass in the deciding quadrant: median {median:.3}, lowest {:.3} ({} images)", shares[0], shares.len());
    assert!(median > 0.5, "Grad-CAM's median share of mass in the deciding quadrant is {median:.2} (a quarter by chance); shares {shares:?}");
    // The same from an earlier layer, named.
    let image = Tensor::new(tx.to_vec()[..256].to_vec(), &[16, 16, 1]).unwrap();
    assert_eq!(explain::grad_cam(&model, &image, 1, Some("conv2d")).unwrap().coarse.shape(), [16, 16]);
}

#[test]
fn activations_filters_and_bad_requests() {
    let model = small_model(Activation::Relu, 5);
    let image = random_image(&[8, 8, 2], 4);
    assert_eq!(explain::activations(&model, &image, "conv2d").unwrap().shape(), [6, 6, 4]);
    let (layer, kernel) = explain::filters(&model, None).unwrap();
    assert_eq!((layer.as_str(), kernel.shape()), ("conv2d", &[3usize, 3, 2, 4][..]));
    let err = explain::filters(&model, Some("dense")).unwrap_err().to_string();
    assert!(err.contains("'dense'") && err.contains("no convolution kernel"), "{err}");
    let err = explain::saliency(&model, &image, 3).unwrap_err().to_string();
    assert!(err.contains("class 3") && err.contains("3 classes"), "{err}");
    let err = explain::saliency(&model, &Tensor::zeros(&[9, 8, 2]), 0).unwrap_err().to_string();
    assert!(err.contains("[9, 8, 2]") || err.contains("(9, 8, 2)"), "{err}");
    assert!(explain::grad_cam(&model, &image, 0, Some("nope")).unwrap_err().to_string().contains("nope"));
    assert!(explain::grad_cam(&model, &image, 0, Some("dense")).unwrap_err().to_string().contains("dense"));
    // A batch of one is taken as one image.
    assert_eq!(explain::saliency(&model, &image.reshape(&[1, 8, 8, 2]).unwrap(), 0).unwrap().shape(), [8, 8, 2]);
}
