//! The `strata` binary, run as a user would.

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
    let dir = std::env::temp_dir().join(format!("strata-cli-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    let dir = std::env::temp_dir().join(format!("strata-cli-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
