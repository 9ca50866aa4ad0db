//! Image files and folders against Keras's `image_dataset_from_directory`
//! (fixtures from `tools/image_fixtures.py`), and broken images.

mod common;

use common::temp_dir;
use std::path::{Path, PathBuf};

use strata::data::images::{self, ColorMode, ImageFolder, ImageOptions};
use strata::io::npy;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images")
}

/// Largest absolute difference per image between Strata's folder and a fixture.
fn differences(mode: ColorMode, size: (usize, usize), fixture: &str) -> Vec<f32> {
    let name = if mode == ColorMode::Grayscale { "grayscale" } else { "rgb" };
    let expected = npy::read(&fixtures().join(format!("{fixture}_{name}_{}x{}.npy", size.0, size.1))).unwrap();
    let folder = ImageFolder::open(&fixtures().join("folder")).unwrap();
    let (x, labels) = folder.load(&ImageOptions { image_size: Some(size), color_mode: mode, scale: 1.0 }).unwrap();
    assert_eq!(x.shape(), expected.shape());
    let keras_labels = npy::read(&fixtures().join("expected_labels.npy")).unwrap();
    assert_eq!(labels.iter().map(|&l| l as f32).collect::<Vec<_>>(), keras_labels.to_vec());
    assert_eq!(folder.class_names, ["ankle", "bag", "coat"]);
    let per_image: usize = x.shape()[1..].iter().product();
    let (a, e) = (x.to_vec(), expected.to_vec());
    (0..x.shape()[0]).map(|i| (i * per_image..(i + 1) * per_image).map(|j| (a[j] - e[j]).abs()).fold(0.0, f32::max)).collect()
}

#[test]
fn image_folder_matches_keras() {
    let folder = ImageFolder::open(&fixtures().join("folder")).unwrap();
    let is_jpeg: Vec<bool> = folder.files.iter().map(|f| f.extension().unwrap() == "jpg").collect();
    for mode in [ColorMode::Rgb, ColorMode::Grayscale] {
        for size in [(8, 8), (5, 7)] {
            let keras = differences(mode, size, "expected");
            let accurate = differences(mode, size, "accurate");
            eprintln!("{mode:?} {size:?}: largest difference per image vs Keras {keras:?}, vs the accurate-IDCT pipeline {accurate:?}");
            for (i, &jpeg) in is_jpeg.iter().enumerate() {
                if jpeg {
                    // TensorFlow's default JPEG decoder uses libjpeg's fast integer IDCT (up to ~13
                    // levels off on these files); against its accurate IDCT Strata is within
                    // 2 levels after resizing (chroma upsampling is jpeg-decoder's own, luma
                    // is recomputed from RGB).
                    assert!(accurate[i] <= 2.0, "{mode:?} {size:?} image {i}: {}", accurate[i]);
                } else {
                    // PNG: bit-identical decode, grey conversion and bilinear resize.
                    assert!(keras[i] <= 1e-4, "{mode:?} {size:?} image {i}: {}", keras[i]);
                }
            }
        }
    }
}

#[test]
fn images_keep_their_size_without_image_size() {
    let path = fixtures().join("folder/coat/0.jpg");
    let options = ImageOptions { image_size: None, color_mode: ColorMode::Rgba, scale: 1.0 / 255.0 };
    let image = images::load_image(&path, &options).unwrap();
    assert_eq!(image.shape(), &[11, 13, 4]);
    assert!(image.to_vec().iter().all(|v| (0.0..=1.0).contains(v)));
    // Alpha of a JPEG is opaque.
    assert_eq!(image.to_vec()[3], 1.0);
    // The folder's images differ in size: without a size to resize to that is an error naming them.
    let folder = ImageFolder::open(&fixtures().join("folder")).unwrap();
    let err = folder.load(&options).unwrap_err().to_string();
    assert!(err.contains("mixed sizes") && err.contains("0.png"), "{err}");
}

#[test]
fn broken_images_and_folders_are_named() {
    let dir = temp_dir("broken");
    let png = std::fs::read(fixtures().join("folder/ankle/0.png")).unwrap();
    let jpg = std::fs::read(fixtures().join("folder/ankle/1.jpg")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.png", png[..png.len() / 2].to_vec(), "corrupt PNG"),
        ("truncated.jpg", jpg[..jpg.len() / 2].to_vec(), "corrupt JPEG"),
        ("empty.png", Vec::new(), "not a PNG or JPEG"),
        ("text.png", b"hello".to_vec(), "not a PNG or JPEG"),
        ("bad-crc.png", { let mut b = png.clone(); b[20] ^= 0xFF; b }, "corrupt PNG"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = images::read(&path).unwrap_err().to_string();
        assert!(err.contains(expected) && err.contains(name), "{name}: {err}");
    }
    let err = ImageFolder::open(&dir.join("missing")).unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
    let err = ImageFolder::open(&dir).unwrap_err().to_string();
    assert!(err.contains("no class sub-folders"), "{err}");
    std::fs::create_dir_all(dir.join("cats")).unwrap();
    std::fs::write(dir.join("cats/readme.txt"), "no images").unwrap();
    let err = ImageFolder::open(&dir).unwrap_err().to_string();
    assert!(err.contains("no PNG or JPEG images"), "{err}");
    // A corrupt image inside a folder is named when the folder loads.
    std::fs::write(dir.join("cats/bad.png"), &png[..40]).unwrap();
    let err = ImageFolder::open(&dir).unwrap().load(&ImageOptions::default()).unwrap_err().to_string();
    assert!(err.contains("bad.png"), "{err}");
    let err = images::load_image(&fixtures().join("folder/ankle/0.png"), &ImageOptions { image_size: Some((0, 4)), ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("image_size"), "{err}");
}
