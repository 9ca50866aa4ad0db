//! The `strata` binary, run as a user would.

mod common;

use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("the strata binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn summary_reports_the_keras_parameter_count() {
    let out = strata(&["summary"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    assert!(s.contains("Total params: 60,554 (236.54 KB)"), "{s}");
    assert!(s.contains("conv2d_2 (Conv2D)") && s.contains("(None, 3, 3, 64)"), "{s}");
    // Any Keras JSON config: here Keras's own export of the headline model.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata/tests/fixtures/keras_headline.json");
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let config = common::scratch("cli-summary").join("model.json");
    std::fs::write(&config, fx["model_json"].as_str().unwrap()).unwrap();
    let out = strata(&["summary", "--config", config.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success() && s.contains("Total params: 60,554"), "{s}{}", text(&out.stderr));
    let out = strata(&["summary", "--config", "/no/such/model.json"]);
    assert!(!out.status.success() && text(&out.stderr).contains("/no/such/model.json"));
    std::fs::remove_file(&config).unwrap();
}

#[test]
fn the_thread_count_does_not_change_the_numbers() {
    // Every reduction adds in an order fixed by the shapes, so one worker
    // and two (without the busy-machine fallback) train the same weights, bit for bit.
    let dir = common::scratch("cli-threads");
    let run = |threads: &str| {
        let path = dir.join(format!("threads-{threads}.safetensors"));
        let out = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["train", "--epochs", "2", "--train-limit", "640", "--seed", "5", "--threads", threads, "--save", path.to_str().unwrap()])
            .env("STRATA_ADAPTIVE_THREADS", "0")
            .output()
            .expect("the strata binary runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let model = strata::model::Sequential::load(&path).unwrap();
        model.named_weights().into_iter().map(|(name, t)| (name, t.to_vec())).collect::<Vec<_>>()
    };
    let (one, two) = (run("1"), run("2"));
    assert_eq!(one.len(), 10);
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} differs between 1 and 2 threads");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_json_ends_with_one_json_object() {
    let out = strata(&["train", "--epochs", "1", "--train-limit", "640", "--json", "--seed", "3", "--threads", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().expect("some output");
    let v: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    for key in ["epochs", "train_samples", "test_samples", "test_loss", "test_accuracy", "epoch_seconds", "samples_per_second"] {
        assert!(v.get(key).is_some(), "missing {key} in {last}");
    }
    assert_eq!(v["train_samples"], 640);
    assert_eq!(v["test_samples"], 2000);
    assert_eq!(v["epoch_seconds"].as_array().unwrap().len(), 1);
    assert!(v["test_accuracy"].as_f64().unwrap() > 0.3, "{last}");
    assert!(text(&out.stderr).contains("Epoch 1/1"), "plain progress lines when not a terminal");
}

#[test]
fn bad_flags_and_data_give_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["train", "--batch-size", "0"], "--batch-size"),
        (&["train", "--threads", "0"], "--threads"),
        (&["train", "--epochs=-3"], "--epochs"),
        (&["train", "--data", "/no/such/folder"], "/no/such/folder"),
        (&["train", "--validation-split", "2"], "--validation-split"),
        (&["train", "--frobnicate"], "--frobnicate"),
    ];
    for (args, expected) in cases {
        let out = strata(args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
}

#[test]
fn a_corrupt_data_folder_names_the_file() {
    let dir = common::scratch("cli-corrupt");
    for f in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        std::fs::write(dir.join(format!("{f}.gz")), b"\x1f\x8b\x08\x00truncated").unwrap();
    }
    let out = strata(&["train", "--data", dir.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("train-images-idx3-ubyte.gz") && !err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_then_resume_continues_to_the_last_epoch() {
    let dir = common::scratch("cli-resume");
    let (ckpt, straight) = (dir.join("two.safetensors"), dir.join("three.safetensors"));
    let common = ["train", "--train-limit", "320", "--seed", "5", "--json"];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = common.iter().chain(extra).copied().collect();
        let out = strata(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap()).unwrap()
    };
    run(&["--epochs", "2", "--save", ckpt.to_str().unwrap()]);
    let resumed = run(&["--epochs", "3", "--resume", ckpt.to_str().unwrap()]);
    assert_eq!(resumed["epoch_seconds"].as_array().unwrap().len(), 1, "only epoch 3 runs");
    let full = run(&["--epochs", "3", "--save", straight.to_str().unwrap()]);
    assert_eq!(resumed["test_loss"], full["test_loss"], "2 + 1 epochs equal 3 straight");
    assert_eq!(resumed["test_accuracy"], full["test_accuracy"]);
    let out = strata(&["train", "--resume", dir.join("missing.safetensors").to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("missing.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fit_predict_evaluate_inspect_from_keras_json_and_numpy() {
    use strata::io::npy;
    let dir = common::scratch("cli-fit");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata/tests/fixtures/keras_headline.json");
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let config = dir.join("model.json");
    std::fs::write(&config, fx["model_json"].as_str().unwrap()).unwrap();
    let data = strata::datasets::mnist_sample().unwrap().train.take(96).unwrap();
    let (x, y, m, p) = (dir.join("x.npy"), dir.join("y.npy"), dir.join("m.safetensors"), dir.join("p.npy"));
    npy::write(&x, &data.images).unwrap();
    npy::write(&y, &data.one_hot(10).unwrap()).unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();

    // --learning-rate without --optimizer sets the config's own optimizer's rate.
    let out = strata(&["fit", "--config", &s(&config), "--x", &s(&x), "--y", &s(&y), "--epochs", "2", "--learning-rate", "0.0005", "--save", &s(&m), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(v["history"]["loss"].as_array().unwrap().len(), 2);

    let out = strata(&["predict", "--model", &s(&m), "--x", &s(&x), "--out", &s(&p)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(npy::read(&p).unwrap().shape(), &[96, 10]);

    // Image files are resized and converted to the model's 28x28 grey input.
    let images = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata/tests/fixtures/images/folder");
    let (png, jpg) = (s(&images.join("ankle/0.png")), s(&images.join("coat/0.jpg")));
    let out = strata(&["predict", "--model", &s(&m), &png, &jpg, "--top", "2"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(shown.lines().count(), 2, "{shown}");
    assert!(shown.lines().all(|l| l.split(", ").count() == 2) && shown.contains("0.png: "), "{shown}");
    let out = strata(&["predict", "--model", &s(&m), &png, "--json", "--class-names", "zero,one,two,three,four,five,six,seven,eight,nine"]);
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let top = v[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert!(top[0]["probability"].as_f64().unwrap() >= top[1]["probability"].as_f64().unwrap());
    assert!(top[0]["class"].as_str().unwrap().len() > 2, "{v}");
    let out = strata(&["predict", "--model", &s(&m), &s(&config)]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("model.json") && err.contains("not a PNG or JPEG"), "{err}");

    let out = strata(&["evaluate", "--model", &s(&m), "--x", &s(&x), "--y", &s(&y), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert!(v["loss"].as_f64().is_some() && v["accuracy"].as_f64().is_some(), "{v}");

    let out = strata(&["inspect", &s(&m)]);
    let shown = text(&out.stdout);
    assert!(out.status.success() && shown.contains("60,554") && shown.contains("Epochs trained: 2"), "{shown}");
    assert!(shown.contains("learning rate 0.0005"), "{shown}");

    // Bad input: a different number of targets, an unsupported layer, a missing file.
    npy::write(&y, &data.take(10).unwrap().one_hot(10).unwrap()).unwrap();
    let out = strata(&["fit", "--config", &s(&config), "--x", &s(&x), "--y", &s(&y), "--save", &s(&m)]);
    assert!(!out.status.success() && text(&out.stderr).contains("96 samples"), "{}", text(&out.stderr));
    std::fs::write(&config, fx["model_json"].as_str().unwrap().replace("\"Flatten\"", "\"FancyLayer\"")).unwrap();
    let out = strata(&["fit", "--config", &s(&config), "--x", &s(&x), "--y", &s(&y), "--save", &s(&m)]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("FancyLayer") && err.contains("model.json"), "{err}");
    let out = strata(&["predict", "--model", &s(&dir.join("none.safetensors")), "--x", &s(&x), "--out", &s(&p)]);
    assert!(!out.status.success() && text(&out.stderr).contains("none.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_killed_mid_checkpoint_leaves_a_checkpoint_that_resumes() {
    let dir = common::scratch("cli-kill");
    let ckpt = dir.join("ckpt.safetensors");
    let c = ckpt.to_str().unwrap();
    // Two steps per epoch, a checkpoint after each: most kills land in or near a write.
    let args = ["train", "--train-limit", "64", "--epochs", "100000", "--threads", "1", "--checkpoint", c];
    let mut loaded_epochs = Vec::new();
    for (i, delay_ms) in [150u64, 230, 310, 370, 440, 520].into_iter().enumerate() {
        let resume = if ckpt.exists() { vec!["--resume", c] } else { vec![] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .args(&resume)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms + 40 * i as u64));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if ckpt.exists() {
            let model = strata::model::Sequential::load(&ckpt).unwrap_or_else(|e| panic!("kill {i}: the checkpoint does not load: {e}"));
            loaded_epochs.push(model.epochs_trained());
        }
    }
    assert!(loaded_epochs.len() >= 4, "checkpoints were written: {loaded_epochs:?}");
    assert!(loaded_epochs.windows(2).all(|w| w[0] <= w[1]), "each run resumed from the last checkpoint: {loaded_epochs:?}");
    // The last checkpoint resumes to completion.
    let last = *loaded_epochs.last().unwrap();
    let target = (last + 1).to_string();
    let out = strata(&["train", "--train-limit", "64", "--epochs", &target, "--threads", "1", "--resume", c, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("after epoch {last}")), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn datasets_by_name_and_streamed_from_disk() {
    let dir = common::scratch("cli-stream");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata/data/mnist-10k");
    let s = sample.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--epochs", "1", "--train-limit", "320", "--threads", "1", "--json"];
        args.extend_from_slice(extra);
        let out = strata(&args);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
        (v["test_accuracy"].as_f64().unwrap(), v["test_loss"].as_f64().unwrap())
    };
    // Streamed from disk batch by batch = loaded into memory, to the bit.
    assert_eq!(run(&["--data", s]), run(&["--data", s, "--stream"]));
    // By name from the cache folder (no download: the files are put there first).
    let cache = dir.join("cache");
    std::fs::create_dir_all(cache.join("mnist")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["train", "--dataset", "mnist", "--epochs", "1", "--train-limit", "64"])
        .env("STRATA_DATA", &cache)
        .env("STRATA_DATASETS_URL", "http://127.0.0.1:9/")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("could not download mnist") && err.contains("127.0.0.1:9"), "{err}");
    let cases: &[(&[&str], &str)] = &[
        (&["train", "--dataset", "cifar"], "unknown dataset 'cifar'"),
        (&["train", "--stream"], "--stream"),
        (&["train", "--dataset", "mnist", "--data", s], "cannot be used with"),
    ];
    for (args, expected) in cases {
        let out = strata(args);
        let err = text(&out.stderr);
        assert!(!out.status.success() && err.contains(expected) && !err.contains("panicked"), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_while_saving_keeps_the_old_file() {
    let dir = common::scratch("cli-full");
    let model = dir.join("model.safetensors");
    let m = model.to_str().unwrap();
    let out = strata(&["train", "--train-limit", "64", "--epochs", "1", "--threads", "1", "--save", m]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = std::fs::read(&model).unwrap();
    // A file-size limit of 64 KB makes the next save fail part-way, as a full disk would
    // (SIGXFSZ ignored, so the write returns an error instead of killing the process).
    let script = format!("trap '' XFSZ; ulimit -f 128; exec '{}' train --train-limit 64 --epochs 1 --threads 1 --seed 9 --save '{m}'", env!("CARGO_BIN_EXE_strata"));
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("model.safetensors") && !err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read(&model).unwrap(), before, "the old file survives");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "no temporary left behind: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A functional model (two inputs, two outputs) from Keras's own files:
/// `model.to_json()`, its weights as safetensors, inputs and targets as
/// `.npz` keyed by input and output name. One epoch of `strata fit` then
/// `strata predict` gives Keras's predictions after the same epoch.
#[test]
fn fit_and_predict_a_functional_model_from_keras_files() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata/tests/fixtures");
    let f = |name: &str| fixtures.join(name).to_str().unwrap().to_string();
    let dir = common::scratch("cli-functional");
    let (saved, predictions) = (dir.join("two_io.safetensors"), dir.join("p.npz"));
    let (x, y) = (f("functional_two_io_x.npz"), f("functional_two_io_y.npz"));
    let out = strata(&["fit", "--config", &f("functional_two_io.json"), "--weights", &f("functional_two_io.safetensors"), "--x", &x, "--y", &y,
        "--epochs", "1", "--batch-size", "8", "--no-shuffle", "--save", saved.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    let keras: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("keras_functional.json")).unwrap()).unwrap();
    let case = &keras["models"][0];
    for key in ["loss", "out1_loss", "out2_loss", "out2_accuracy"] {
        let (a, e) = (report["history"][key][0].as_f64().unwrap(), case["history"][key][0].as_f64().unwrap());
        assert!((a - e).abs() < 1e-4 * e.abs().max(1.0), "{key}: {a} vs Keras {e}");
    }
    let out = strata(&["predict", "--model", saved.to_str().unwrap(), "--x", &x, "--out", predictions.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let arrays = strata::io::npy::read_npz(&predictions).unwrap();
    for ((name, p), expected) in arrays.iter().zip(case["predictions"].as_array().unwrap()) {
        let e: Vec<f64> = expected["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        for (a, b) in p.to_vec().iter().zip(&e) {
            assert!((*a as f64 - b).abs() < 1e-5 * b.abs().max(1.0), "{name}: {a} vs Keras {b}");
        }
    }
    assert_eq!(arrays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["out1", "out2"]);
    // From a config and weights, without a saved model; one output per .npy is refused for two outputs.
    let out = strata(&["predict", "--config", &f("functional_two_io.json"), "--weights", &f("functional_two_io.safetensors"), "--x", &x, "--out", predictions.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = strata(&["predict", "--model", saved.to_str().unwrap(), "--x", &x, "--out", dir.join("p.npy").to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("2 outputs (out1, out2)"), "{}", text(&out.stderr));
    // An .npz with a misnamed array names it and the model's inputs.
    let bad = dir.join("bad.npz");
    let mut renamed = strata::io::npy::read_npz(std::path::Path::new(&x)).unwrap();
    renamed[0].0 = "alpha".into();
    strata::io::npy::write_npz(&bad, &renamed).unwrap();
    let out = strata(&["predict", "--model", saved.to_str().unwrap(), "--x", bad.to_str().unwrap(), "--out", predictions.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("'alpha'") && text(&out.stderr).contains("a, b"), "{}", text(&out.stderr));
    let out = strata(&["summary", "--model", saved.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("Connected to") && text(&out.stdout).contains("da[0][0], db[0][0]"), "{}", text(&out.stdout));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Keras model with every augmentation and preprocessing layer, both
/// transposed convolutions, bilinear upsampling and an adapted
/// Normalization, from Keras's `to_json()` and weights: `strata predict`
/// gives Keras's inference predictions (the augmentations pass images
/// through), and `strata fit` trains it (augmenting) and saves it.
#[test]
fn a_keras_model_with_augmentation_predicts_and_fits() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata/tests/fixtures");
    let f = |name: &str| fixtures.join(name).to_str().unwrap().to_string();
    let dir = common::scratch("cli-vision");
    let (config, weights, x) = (f("vision_model_config.json"), f("vision_model.safetensors"), f("vision_model_x.npy"));
    let predictions = dir.join("p.npy");
    let out = strata(&["predict", "--config", &config, "--weights", &weights, "--x", &x, "--out", predictions.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keras: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("keras_vision_model.json")).unwrap()).unwrap();
    let p = strata::io::npy::read(&predictions).unwrap();
    for (a, b) in p.to_vec().iter().zip(keras["predictions"]["data"].as_array().unwrap()) {
        let b = b.as_f64().unwrap();
        assert!((*a as f64 - b).abs() < 1e-5, "{a} vs Keras {b}");
    }
    let saved = dir.join("vision.safetensors");
    let out = strata(&["fit", "--config", &config, "--weights", &weights, "--x", &x, "--y", &f("vision_model_y.npy"),
        "--epochs", "2", "--batch-size", "4", "--save", saved.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert!(report["history"]["loss"][1].as_f64().unwrap().is_finite(), "{report}");
    let out = strata(&["summary", "--model", saved.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("random_rotation") && text(&out.stdout).contains(&keras["params"].to_string()), "{}", text(&out.stdout));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Flags that would be ignored, misread or found wrong only after training
/// are refused at once, naming the flag.
#[test]
fn flags_are_checked_before_training() {
    let dir = common::scratch("cli-flags");
    let model = dir.join("m.safetensors");
    let out = strata(&["train", "--epochs", "1", "--train-limit", "320", "--save", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let missing = dir.join("no/such/folder/m.safetensors");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "--epochs", "0"], "--epochs"),
        (vec!["train", "--epochs", "1", "--resume", model.to_str().unwrap()], "trained 1 epochs already"),
        (vec!["train", "--model", "dense", "--resume", model.to_str().unwrap()], "--model"),
        (vec!["train", "--save", missing.to_str().unwrap()], "does not exist"),
        (vec!["train", "--save", dir.to_str().unwrap()], "is a folder"),
        (vec!["train", "--checkpoint", missing.to_str().unwrap()], "--checkpoint"),
        (vec!["train", "--checkpoint", "ck.keras"], "keeps no optimizer state"),
        (vec!["predict", "--model", model.to_str().unwrap(), "--x", "x.npy", "--out", missing.to_str().unwrap()], "--out"),
        (vec!["fit", "--config", "c.json", "--x", "x.npy", "--y", "y.npy", "--save", "m.safetensors", "--learning-rate", "-1"], "must be a positive number, got -1"),
        (vec!["fit", "--config", "c.json", "--x", "x.npy", "--y", "y.npy", "--save", "m.safetensors", "--epochs", "0"], "strata convert"),
    ];
    for (args, expected) in &cases {
        let out = strata(args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("Epoch 1/"), "{args:?} trained before failing: {err}");
    }
    // evaluate without data: the bundled sample's test split.
    let out = strata(&["evaluate", "--model", model.to_str().unwrap()]);
    assert!(out.status.success() && text(&out.stdout).contains("2000 samples - loss"), "{}{}", text(&out.stdout), text(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `strata convert` between a Keras config with weights and a Strata model;
/// the files Keras users have that are not these name their format.
#[test]
fn convert_between_keras_json_and_strata_models() {
    let dir = common::scratch("cli-convert");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let out = strata(&["train", "--epochs", "1", "--train-limit", "320", "--save", &path("m.safetensors")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = |args: &[&str]| {
        let out = strata(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    };
    run(&["convert", &path("m.safetensors"), &path("m.json"), "--weights", &path("w.safetensors")]);
    run(&["convert", &path("m.json"), &path("again.safetensors"), "--weights", &path("w.safetensors")]);
    let (a, b) = (strata::model::Model::load(path("m.safetensors")).unwrap(), strata::model::Model::load(path("again.safetensors")).unwrap());
    assert_eq!(a.to_json()["config"], b.to_json()["config"]);
    for ((n, x), (_, y)) in a.named_weights().iter().zip(b.named_weights()) {
        assert_eq!(x.to_vec(), y.to_vec(), "{n}");
    }
    // A weights-only file given as a model, a .keras zip and an .h5 file: what they are and what to do.
    std::fs::write(path("m.keras"), b"PK\x03\x04 not really").unwrap();
    std::fs::write(path("m.h5"), b"\x89HDF\r\n\x1a\n not really").unwrap();
    for (file, expected) in [("w.safetensors", "strata convert"), ("m.keras", "not a valid .keras"), ("m.h5", "HDF5")] {
        let out = strata(&["inspect", &path(file)]);
        assert!(!out.status.success() && text(&out.stderr).contains(expected), "{file}: {}", text(&out.stderr));
    }
    let out = strata(&["convert", &path("m.json"), &path("x.safetensors")]);
    assert!(!out.status.success() && text(&out.stderr).contains("--weights"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn predict_names_the_class_of_wav_recordings() {
    use strata::data::wav;
    use strata::layers::{MelSpectrogram, Rescaling};
    use strata::prelude::*;
    let dir = common::scratch("cli-wav");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    // Three classes of tone (300 Hz, 1 kHz, 2.5 kHz), at random phases and loudness, 0.1 s at 8 kHz.
    let tone = |freq: f32, rate: u32, n: usize, phase: f32, gain: f32| -> Vec<f32> { (0..n).map(|i| gain * (std::f32::consts::TAU * freq * i as f32 / rate as f32 + phase).sin()).collect() };
    let freqs = [300.0, 1000.0, 2500.0];
    let mut rng = strata::Rng::new(3);
    let (mut x, mut ids) = (Vec::new(), Vec::new());
    for k in 0..60 {
        x.extend(tone(freqs[k % 3], 8000, 800, rng.uniform() * 6.0, rng.uniform_range(0.1, 0.9)));
        ids.push(k % 3);
    }
    let mut model = Sequential::with_seed(0);
    model.add(MelSpectrogram::new(8000).fft_length(64).sequence_stride(32).num_mel_bins(8).input_shape([800])).unwrap();
    model.add(Rescaling::new(0.05)).unwrap();
    model.add(Flatten::new()).unwrap();
    model.add(Dense::new(3).activation(Softmax)).unwrap();
    model.compile(Adam::new(0.01).unwrap(), CategoricalCrossentropy::new(false), &["accuracy"]).unwrap();
    let (x, y) = (Tensor::new(x, &[60, 800]).unwrap(), Tensor::one_hot(&ids, 3).unwrap());
    model.fit(&x, &y, FitOptions { epochs: 30, batch_size: 10, verbose: 0, ..Default::default() }).unwrap();
    let m = dir.join("tones.safetensors");
    model.save(&m).unwrap();

    // Recordings at other rates, lengths and channel counts are resampled, mixed to one channel and cut or padded.
    let files = [
        (dir.join("low.wav"), tone(300.0, 16000, 1000, 0.3, 0.5), 1, 16000),
        (dir.join("mid.wav"), tone(1000.0, 8000, 2000, 1.0, 0.3), 1, 8000),
        (dir.join("high.wav"), tone(2500.0, 8000, 600, 2.0, 0.7).iter().flat_map(|v| [*v, *v]).collect(), 2, 8000),
    ];
    for (path, samples, channels, rate) in &files {
        wav::write_pcm16(path, samples, *channels, *rate).unwrap();
    }
    let paths: Vec<String> = files.iter().map(|f| s(&f.0)).collect();
    let mut args = vec!["predict", "--model", m.to_str().unwrap(), "--json"];
    args.extend(paths.iter().map(String::as_str));
    let out = strata(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let labels: Vec<&str> = v.as_array().unwrap().iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["0", "1", "2"], "{v}");
    assert!(v[0]["file"].as_str().unwrap().ends_with("low.wav"));
    assert!(text(&out.stderr).contains("mid.wav: longer than the model's 800 samples at 8000 Hz"), "{}", text(&out.stderr));

    // Errors name what is wrong: a corrupt file, images mixed with recordings, a model without a rate.
    let bad = dir.join("bad.wav");
    std::fs::write(&bad, b"RIFF\x24\0\0\0WAVEfmt ").unwrap();
    let out = strata(&["predict", "--model", &s(&m), &s(&bad)]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.wav") && err.contains("truncated"), "{err}");
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata/tests/fixtures/images/folder/ankle/0.png");
    let out = strata(&["predict", "--model", &s(&m), &paths[0], &s(&png)]);
    assert!(!out.status.success() && text(&out.stderr).contains("one kind in one call"), "{}", text(&out.stderr));
    let mut plain = Sequential::with_seed(0);
    plain.add(Dense::new(2).input_shape([800])).unwrap();
    plain.build_from_declared().unwrap();
    let p = dir.join("plain.safetensors");
    plain.save(&p).unwrap();
    let out = strata(&["predict", "--model", &s(&p), &paths[0]]);
    assert!(!out.status.success() && text(&out.stderr).contains("--sample-rate"), "{}", text(&out.stderr));
    let out = strata(&["predict", "--model", &s(&p), &paths[0], "--sample-rate", "8000"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A model on (samples, 1), as STFTSpectrogram takes signals, reads recordings too.
    let mut stft = Sequential::with_seed(0);
    stft.add(strata::layers::STFTSpectrogram::new(64).input_shape([800, 1])).unwrap();
    stft.add(Flatten::new()).unwrap();
    stft.add(Dense::new(3).activation(Softmax)).unwrap();
    stft.build_from_declared().unwrap();
    let q = dir.join("stft.safetensors");
    stft.save(&q).unwrap();
    let out = strata(&["predict", "--model", &s(&q), &paths[1], "--sample-rate", "8000", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_str::<serde_json::Value>(text(&out.stdout).trim()).unwrap()[0]["top"].as_array().unwrap().len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_times_single_images() {
    let out = strata(&["bench", "--latency", "--model", "headline", "--calls", "50", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let m = &v["latency"][0];
    let (p50, p99) = (m["latency_ms_p50"].as_f64().unwrap(), m["latency_ms_p99"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= p99 && m["calls"] == 50, "{m}");
    assert!(m["profile"].to_string().contains("conv2d_1"), "{m}");
    // A character model's input is ids, which an Embedding takes whole (random fractions it refused).
    let out = strata(&["bench", "--latency", "--model", "gru", "--calls", "5", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = strata(&["bench", "--latency", "--model-file", "/no/such/model.safetensors"]);
    assert!(!out.status.success() && text(&out.stderr).contains("/no/such/model.safetensors"), "{}", text(&out.stderr));
}
