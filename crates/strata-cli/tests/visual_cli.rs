//! `strata plot`, `strata evaluate --confusion-matrix/--misclassified`,
//! `strata explain` and `strata dashboard`, run as a user would.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("the strata binary runs")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A PNG's width and height, read from its header (and the file checked to be one).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn trained(dir: &Path) -> PathBuf {
    let model = dir.join("m.safetensors");
    let out = strata(&["train", "--epochs", "2", "--train-limit", "600", "--validation-split", "0.2", "--save", &s(&model), "--logdir", &s(&dir.join("runs")), "--run-name", "cli"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    model
}

#[test]
fn pictures_of_a_trained_model() {
    let dir = common::scratch("visual-cli-pictures");
    let model = trained(&dir);
    let m = s(&model);
    let out = strata(&["plot", "history", &m, "--out", &s(&dir.join("curves.png"))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(png_size(&dir.join("curves.png")), (880, 330), "two panels: accuracy and loss");
    let out = strata(&["plot", "history", &m, "--out", &s(&dir.join("curves.svg"))]);
    assert!(out.status.success() && std::fs::read_to_string(dir.join("curves.svg")).unwrap().contains("val_loss"));

    let (cm, wrong) = (dir.join("cm.png"), dir.join("wrong.png"));
    let out = strata(&["evaluate", "--model", &m, "--confusion-matrix", &s(&cm), "--misclassified", &s(&wrong), "--misclassified-count", "10"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("Wrote 10 of"), "{err}");
    assert!(png_size(&cm).0 > 500 && png_size(&wrong).0 > 300);

    // An image to explain: the first test digit, written by `write_grid`'s PNG writer.
    let digit = dir.join("digit.png");
    let data = strata::datasets::mnist_sample().unwrap();
    let first = strata::Tensor::new(data.test.images.to_vec()[..784].to_vec(), &[1, 28, 28, 1]).unwrap();
    let values: Vec<u8> = first.to_vec().iter().map(|v| (v * 255.0).round() as u8).collect();
    strata::data::images::write_png(&digit, 28, 28, 1, &values).unwrap();
    for method in ["saliency", "integrated-gradients", "gradcam"] {
        let out_path = dir.join(format!("{method}.png"));
        let out = strata(&["explain", "--model", &m, "--image", &s(&digit), "--method", method, "--out", &s(&out_path)]);
        assert!(out.status.success(), "{method}: {}", String::from_utf8_lossy(&out.stderr));
        let (w, h) = png_size(&out_path);
        assert!(w >= 3 * 168 && h >= 168, "{method}: input, map and overlay ({w}x{h})");
    }
    let out = strata(&["explain", "--model", &m, "--image", &s(&digit), "--method", "activations", "--layer", "conv2d", "--out", &s(&dir.join("maps.png"))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = strata(&["explain", "--model", &m, "--method", "filters", "--out", &s(&dir.join("filters.png"))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Bad requests: a clear error naming what is wrong, nothing written.
    let bad = |args: &[&str], expect: &str| {
        let out = strata(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success() && err.contains(expect), "{args:?}: {err}");
    };
    bad(&["explain", "--model", &m, "--image", &s(&digit), "--method", "gradcam", "--layer", "nope", "--out", &s(&dir.join("x.png"))], "nope");
    bad(&["explain", "--model", &m, "--image", &s(&digit), "--method", "activations", "--out", &s(&dir.join("x.png"))], "--layer");
    bad(&["explain", "--model", &m, "--method", "saliency", "--out", &s(&dir.join("x.png"))], "--image");
    bad(&["explain", "--model", &m, "--image", &s(&digit), "--class", "12", "--out", &s(&dir.join("x.png"))], "class 12");
    bad(&["plot", "history", &m, "--out", &s(&dir.join("curves.gif"))], ".png or a .svg");
    bad(&["plot", "history", "/no/such/model.safetensors", "--out", &s(&dir.join("c.png"))], "/no/such/model.safetensors");
    bad(&["evaluate", "--model", &m, "--confusion-matrix", "/no/such/dir/cm.png"], "--confusion-matrix");
    assert!(!dir.join("x.png").exists());
}

#[test]
fn the_dashboard_serves_a_log_folder() {
    let dir = common::scratch("visual-cli-logdir");
    std::fs::write(dir.join("keras.csv"), "epoch,loss,val_loss\n0,0.9,1.0\n1,0.7,0.8\n").unwrap();
    std::fs::write(dir.join("strata.jsonl"), "{\"type\":\"epoch\",\"logs\":{\"epoch\":0,\"loss\":1.5}}\n{\"type\":\"status\",\"status\":\"finished\"}\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata")).args(["dashboard", "--logdir", &s(&dir), "--addr", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let addr = line.strip_prefix("Dashboard: http://").and_then(|l| l.split('/').next()).unwrap_or_else(|| panic!("{line}")).to_string();
    assert!(line.contains("2 runs"), "{line}");
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(b"GET /api/runs HTTP/1.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let body: serde_json::Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let names: Vec<&str> = body["runs"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["keras", "strata"]);
    assert_eq!(body["runs"][1]["status"], "finished");
    assert_eq!(body["runs"][0]["epochs"][1]["val_loss"], 0.8);
    let out = strata(&["dashboard", "--logdir", "/no/such/folder"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("/no/such/folder"));
}
