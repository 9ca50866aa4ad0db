//! Every file format Strata reads, broken in the ways files break: each gives
//! an error naming the file and what was wrong, never a panic.

mod common;

use common::temp_dir;
use std::path::Path;

use strata::data::{idx, images};
use strata::io::{csv, npy};
use strata::layers::LayerOptions;
use strata::model::Sequential;
use strata::Tensor;


fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" });
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// Writes `bytes` to `dir/name`, runs `read` on it, and checks the error text.
fn check(dir: &Path, name: &str, bytes: &[u8], read: impl Fn(&Path) -> Result<(), String>, expected: &[&str]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&path)));
    let err = match result {
        Ok(Err(e)) => e,
        Ok(Ok(())) => panic!("{name}: accepted"),
        Err(_) => panic!("{name}: panicked"),
    };
    assert!(err.contains(name), "{name}: the error does not name the file: {err}");
    for e in expected {
        assert!(err.contains(e), "{name}: expected '{e}' in: {err}");
    }
}

/// `bytes` with every `from` replaced by `to` (same length, so headers stay valid).
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let at = out.windows(from.len()).position(|w| w == from).expect("pattern present");
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn every_reader_names_the_file_and_the_fault() {
    let dir = temp_dir("bad-input");
    let npy = |p: &Path| npy::read(p).map(|_| ()).map_err(|e| e.to_string());
    let f32s: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    check(&dir, "empty.npy", b"", npy, &[]);
    check(&dir, "magic.npy", b"\x93NUMPX\x01\x00\x10\x00{}", npy, &[]);
    check(&dir, "truncated.npy", &npy_bytes("<f4", false, "(4,)", &f32s), npy, &["truncated"]);
    check(&dir, "dtype.npy", &npy_bytes("<c8", false, "(2,)", &[0; 16]), npy, &["c8"]);
    check(&dir, "fortran.npy", &npy_bytes("<f4", true, "(1, 2)", &f32s), npy, &["fortran"]);
    check(&dir, "huge.npy", &npy_bytes("<f4", false, "(4000000000, 4000000000)", &f32s), npy, &[]);
    check(&dir, "shape.npy", &npy_bytes("<f4", false, "(a, b)", &f32s), npy, &["shape"]);
    let npz = |p: &Path| npy::read_npz(p).map(|_| ()).map_err(|e| e.to_string());
    check(&dir, "truncated.npz", b"PK\x03\x04\x14\x00\x00\x00", npz, &[]);
    check(&dir, "text.npz", b"hello, not a zip", npz, &["npz"]);

    let csv = |p: &Path| csv::read(p, Some("label")).map(|_| ()).map_err(|e| e.to_string());
    check(&dir, "empty.csv", b"", csv, &["empty"]);
    check(&dir, "ragged.csv", b"a,label\n1,2\n3\n", csv, &["line 3", "1 fields"]);
    check(&dir, "text.csv", b"a,label\n1,two\n", csv, &["'two'"]);
    check(&dir, "nolabel.csv", b"a,b\n1,2\n", csv, &["no label column 'label'"]);

    let idx = |p: &Path| idx::read(p).map(|_| ()).map_err(|e| e.to_string());
    check(&dir, "overflow.idx", &[0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255], idx, &[]);
    check(&dir, "short.idx", &[0, 0, 8], idx, &["too short"]);
    check(&dir, "gzip.idx.gz", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3], idx, &[]);

    let image = |p: &Path| images::read(p).map(|_| ()).map_err(|e| e.to_string());
    check(&dir, "header.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", image, &["PNG"]);
    check(&dir, "header.jpg", &[0xFF, 0xD8, 0xFF, 0xC0, 0x00], image, &["JPEG"]);

    let model = |p: &Path| Sequential::load(p).map(|_| ()).map_err(|e| e.to_string());
    check(&dir, "empty.safetensors", b"", model, &["safetensors"]);
    check(&dir, "header.safetensors", &[255, 255, 255, 255, 255, 255, 255, 127, b'{'], model, &["safetensors"]);
    let mut saved = Sequential::with_seed(0);
    saved.add(strata::layers::Dense::new(2).input_shape([3])).unwrap();
    saved.build_from_declared().unwrap();
    let good = dir.join("good.safetensors");
    saved.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    check(&dir, "cut.safetensors", &bytes[..bytes.len() - 5], model, &["safetensors"]);
    check(&dir, "newer.safetensors", &replace(&bytes, b"\"format_version\":\"1\"", b"\"format_version\":\"9\""), model, &["format 9", "upgrade Strata"]);
    check(&dir, "layer.safetensors", &replace(&bytes, b"\\\"Dense\\\"", b"\\\"Dxnse\\\""), model, &["Dxnse"]);

    let config = |p: &Path| {
        let text = std::fs::read_to_string(p).unwrap();
        Sequential::from_json_str(&text, 0).map(|_| ()).map_err(|e| format!("{}: {e}", p.display()))
    };
    let layer = |class: &str, config: &str| format!(r#"{{"class_name": "Sequential", "config": {{"name": "m", "layers": [{{"class_name": "{class}", "config": {config}}}]}}}}"#);
    check(&dir, "json.json", b"{not json", config, &["not valid JSON"]);
    check(&dir, "unknown.json", layer("Capsule", "{}").as_bytes(), config, &["Capsule"]);
    check(&dir, "missing.json", layer("Dense", r#"{"name": "d"}"#).as_bytes(), config, &["units"]);
    check(&dir, "type.json", layer("Dense", r#"{"name": "d", "units": "ten"}"#).as_bytes(), config, &["units"]);
    check(&dir, "negative.json", layer("Dense", r#"{"name": "d", "units": -3}"#).as_bytes(), config, &["units"]);
    check(&dir, "huge.json", layer("Dense", r#"{"name": "d", "units": 4000000000, "batch_shape": [null, 1000]}"#).as_bytes(), config, &["'d'", "1 GiB"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn data_that_does_not_fit_the_model_is_named() {
    let mut m = Sequential::with_seed(0);
    m.add(strata::layers::Dense::new(3).input_shape([2])).unwrap();
    m.compile("sgd", "sparse_categorical_crossentropy", &[]).unwrap();
    let x = Tensor::zeros(&[4, 2]);
    let fit = |m: &mut Sequential, x: &Tensor, y: &Tensor| m.fit(x, y, strata::model::FitOptions { verbose: 0, ..Default::default() }).unwrap_err().to_string();
    let e = fit(&mut m, &x, &Tensor::new(vec![0.0, 1.0, 2.0, 7.0], &[4]).unwrap());
    assert!(e.contains('7') && e.contains("3 classes"), "{e}");
    let e = fit(&mut m, &x, &Tensor::zeros(&[5]));
    assert!(e.contains("4 samples") && e.contains('5'), "{e}");
    let e = fit(&mut m, &Tensor::new(vec![f32::NAN; 8], &[4, 2]).unwrap(), &Tensor::zeros(&[4]));
    assert!(e.contains("not finite") || e.contains("NaN") || e.contains("input value"), "{e}");
}
