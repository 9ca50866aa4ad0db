//! `mpirun -np N strata train|fit`: N processes train the weights one
//! process trains with the same global batch (the headline CNN, a model
//! with BatchNormalization and Dropout, a functional model); a checkpoint of
//! a 2-process run resumes in 1 and 4; a killed rank ends the run within
//! 10 s, naming it; ranks started differently are refused. Built with
//! `--features mpi`; needs OpenMPI's `mpirun` (`.ci/run` installs it and
//! sets `STRATA_REQUIRE_MPI=1`); skips, saying so, without it.
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use strata::layers::{BatchNormalization, Dropout, MaxPooling2D};
use strata::model::Model;
use strata::prelude::*;
use strata::Rng;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

fn have_mpirun() -> bool {
    let found = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("STRATA_REQUIRE_MPI").is_none(), "STRATA_REQUIRE_MPI is set but mpirun is missing");
        eprintln!("skipped: no mpirun (install Debian's openmpi-bin to run the MPI tests)");
    }
    found
}

/// `mpirun -np N` (oversubscribed past the cores) with the variables OpenMPI needs as root in a container.
fn mpirun(ranks: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1").env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    c.args(["-np", &ranks.to_string(), "--oversubscribe"]);
    c
}

/// `strata ARGS` alone (ranks == 1) or under `mpirun -np ranks`.
fn run(ranks: usize, args: &[&str]) -> Output {
    let mut c = if ranks == 1 { Command::new(STRATA) } else { mpirun(ranks) };
    if ranks > 1 {
        c.arg(STRATA);
    }
    let out = c.args(args).env("STRATA_THREADS", "1").output().expect("runs");
    assert!(out.status.success(), "{ranks} rank(s), strata {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The largest difference of any weight of two saved models, relative to its tensor's largest magnitude.
fn difference(a: &Path, b: &Path) -> f32 {
    let (a, b) = (Model::load(a).unwrap(), Model::load(b).unwrap());
    let mut worst = 0.0f32;
    for ((name, x), (_, y)) in a.named_weights().iter().zip(b.named_weights()) {
        let (x, y) = (x.to_vec(), y.to_vec());
        let scale = y.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let d = x.iter().zip(&y).fold(0.0f32, |m, (p, q)| m.max((p - q).abs())) / scale;
        if d > 1e-5 {
            eprintln!("{name}: {d:.2e}");
        }
        worst = worst.max(d);
    }
    worst
}

/// Writes a model's Keras config and a synthetic 12x12 four-class task for `strata fit`.
fn fit_files(d: &Path, name: &str, model: Model) -> [PathBuf; 3] {
    let mut r = Rng::new(1);
    let n = 70;
    let labels: Vec<usize> = (0..n).map(|_| r.below(4)).collect();
    let x: Vec<f32> = labels.iter().flat_map(|&c| (0..144).map(move |i| ((i / 72) * 2 + (i % 12) / 6 == c) as u8 as f32 * 0.5)).zip((0..).map(|_| r.uniform() * 0.5)).map(|(a, b)| a + b).collect();
    let paths = [d.join(format!("{name}.json")), d.join("x.npy"), d.join("y.npy")];
    std::fs::write(&paths[0], model.to_json().to_string()).unwrap();
    strata::io::npy::write(&paths[1], &Tensor::new(x, &[n, 12, 12, 1]).unwrap()).unwrap();
    strata::io::npy::write(&paths[2], &strata::data::mnist::one_hot(&labels, 4).unwrap()).unwrap();
    paths
}

fn norm_and_dropout() -> Model {
    let mut m = Sequential::with_seed(0);
    m.add(Conv2D::new(6, 3).use_bias(false).input_shape([12, 12, 1])).unwrap();
    m.add(BatchNormalization::new()).unwrap();
    m.add(strata::layers::Activation::new(Relu)).unwrap();
    m.add(MaxPooling2D::new(2)).unwrap();
    m.add(Flatten::new()).unwrap();
    m.add(Dropout::new(0.3)).unwrap();
    m.add(Dense::new(4).activation(Softmax)).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    m.into_model()
}

fn functional() -> Model {
    let x = Input::new([12, 12, 1]);
    let a = Conv2D::new(4, 3).activation("relu").apply(&x).unwrap();
    let b = Conv2D::new(4, 3).activation("tanh").apply(&x).unwrap();
    let flat = Flatten::new().apply(&Add::new().apply([&a, &b]).unwrap()).unwrap();
    let y = Dense::new(4).activation("softmax").apply(&flat).unwrap();
    let mut m = Model::with_seed(&[x], &[y], 0).unwrap();
    m.compile("adam", "categorical_crossentropy", &["accuracy"]).unwrap();
    m
}

#[test]
fn ranks_train_the_weights_one_process_does() {
    if !have_mpirun() {
        return;
    }
    let d = common::scratch("mpi-equal");
    let headline = |ranks: usize| {
        let out = d.join(format!("headline-{ranks}.safetensors"));
        run(ranks, &["train", "--epochs", "1", "--train-limit", "640", "--batch-size", "64", "--json", "--save", s(&out)]);
        out
    };
    let one = headline(1);
    for ranks in [2, 4] {
        let worst = difference(&headline(ranks), &one);
        eprintln!("headline CNN, {ranks} processes: largest weight difference {worst:.2e}");
        assert!(worst < 1e-5, "headline CNN, {ranks} processes: {worst:.2e}");
    }
    for (name, model) in [("norm-dropout", norm_and_dropout()), ("functional", functional())] {
        let [config, x, y] = fit_files(&d, name, model);
        let fit = |ranks: usize| {
            let out = d.join(format!("{name}-{ranks}.safetensors"));
            run(ranks, &["fit", "--config", s(&config), "--x", s(&x), "--y", s(&y), "--epochs", "2", "--batch-size", "32", "--json", "--save", s(&out)]);
            out
        };
        let one = fit(1);
        // 70 samples in batches of 32: shares of 16/16 and 3/3 on 2 ranks, 8/8/8/8 and 1/2/1/2 on 4.
        for ranks in [2, 4] {
            let worst = difference(&fit(ranks), &one);
            eprintln!("{name}, {ranks} processes: largest weight difference {worst:.2e}");
            assert!(worst < 1e-5, "{name}, {ranks} processes: {worst:.2e}");
        }
    }
}

#[test]
fn a_two_process_checkpoint_resumes_in_one_and_in_four() {
    if !have_mpirun() {
        return;
    }
    let d = common::scratch("mpi-resume");
    let common = ["--train-limit", "640", "--batch-size", "64", "--json"];
    let straight = d.join("straight.safetensors");
    run(1, &[&["train", "--epochs", "2", "--save", s(&straight)][..], &common].concat());
    let checkpoint = d.join("checkpoint.safetensors");
    run(2, &[&["train", "--epochs", "1", "--checkpoint", s(&checkpoint)][..], &common].concat());
    for ranks in [1, 4] {
        let resumed = d.join(format!("resumed-{ranks}.safetensors"));
        run(ranks, &[&["train", "--resume", s(&checkpoint), "--epochs", "2", "--save", s(&resumed)][..], &common].concat());
        let worst = difference(&resumed, &straight);
        eprintln!("resumed in {ranks} process(es): largest weight difference from the uninterrupted run {worst:.2e}");
        assert!(worst < 1e-5, "resumed in {ranks}: {worst:.2e}");
    }
}

#[test]
fn a_killed_rank_ends_the_run_within_ten_seconds_naming_it() {
    if !have_mpirun() {
        return;
    }
    let mut job = mpirun(2).args([STRATA, "train", "--epochs", "100", "--train-limit", "2000"]).env("STRATA_THREADS", "1").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Rank 1 is the process of this job whose environment says so.
    let started = Instant::now();
    let rank1 = loop {
        assert!(started.elapsed() < Duration::from_secs(30), "rank 1 never started");
        let found = std::fs::read_dir("/proc").unwrap().flatten().find_map(|p| {
            let environ = std::fs::read(p.path().join("environ")).ok()?;
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let ours = cmdline.split(|&b| b == 0).next().is_some_and(|exe| exe == STRATA.as_bytes());
            (ours && environ.split(|&b| b == 0).any(|v| v == b"OMPI_COMM_WORLD_RANK=1")).then(|| p.file_name().to_string_lossy().into_owned())
        });
        match found {
            Some(pid) => break pid,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    // Let training start, then kill it.
    std::thread::sleep(Duration::from_secs(2));
    assert!(Command::new("kill").args(["-9", &rank1]).status().unwrap().success());
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = job.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(30) {
            job.kill().ok();
            panic!("the run went on 30 s after rank 1 was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = killed.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(job.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    eprintln!("the run ended {took:.1?} after rank 1 was killed");
    assert!(!status.success() && took < Duration::from_secs(10), "{took:?}: {stderr}");
    assert!(stderr.contains("rank 1"), "{stderr}");
}

#[test]
fn ranks_started_differently_are_refused() {
    if !have_mpirun() {
        return;
    }
    let started = Instant::now();
    let out = mpirun(1)
        .args([STRATA, "train", "--epochs", "1", "--train-limit", "256", ":", "-np", "1", STRATA, "train", "--epochs", "2", "--train-limit", "256"])
        .env("STRATA_THREADS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && started.elapsed() < Duration::from_secs(30), "{stderr}");
    assert!(stderr.contains("rank 1 differs from rank 0 in its training options"), "{stderr}");
}
