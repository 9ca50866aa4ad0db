//! Plots are decoded back and checked: their size, that they are not blank,
//! and that the curves' pixels lie where the values say.

mod common;

use std::path::PathBuf;

use strata::data::images;
use strata::model::History;
use strata::plot::{self, ConfusionMatrix, Curves, Figure, ImageGrid, Picture};
use strata::Tensor;

fn scratch(name: &str) -> PathBuf {
    common::temp_file("plot", name)
}

fn history() -> History {
    let mut h = History::default();
    h.epoch = (0..6).collect();
    h.history.insert("loss".into(), vec![2.0, 1.2, 0.8, 0.6, 0.5, 0.45]);
    h.history.insert("val_loss".into(), vec![2.1, 1.4, 1.0, 0.9, 0.95, 1.0]);
    h.history.insert("accuracy".into(), vec![0.3, 0.6, 0.75, 0.8, 0.84, 0.86]);
    h.history.insert("val_accuracy".into(), vec![0.28, 0.55, 0.7, 0.74, 0.74, 0.73]);
    h
}

/// Whether a pixel within `radius` of `(x, y)` has nearly `color`.
fn has_color_near(pixels: &[u8], width: u32, (x, y): (i32, i32), color: (u8, u8, u8), radius: i32) -> bool {
    let height = pixels.len() as i32 / 3 / width as i32;
    (-radius..=radius).flat_map(|dy| (-radius..=radius).map(move |dx| (x + dx, y + dy))).any(|(x, y)| {
        if x < 0 || y < 0 || x >= width as i32 || y >= height {
            return false;
        }
        let i = ((y * width as i32 + x) * 3) as usize;
        let d = |a: u8, b: u8| (a as i32 - b as i32).abs();
        d(pixels[i], color.0) + d(pixels[i + 1], color.1) + d(pixels[i + 2], color.2) < 40
    })
}

#[test]
fn training_curves_put_each_value_where_it_belongs() {
    let curves = Curves::from_history(&history());
    assert_eq!(curves.panel_names(), ["accuracy", "loss"]);
    let (w, h, pixels, panels) = plot::render_rgb(&curves).unwrap();
    assert_eq!((w, h), curves.size());
    assert_eq!((w, h), (880, 330));
    assert_eq!(panels.len(), 2);
    let hist = history();
    for panel in &panels {
        for (name, color) in [(panel.name.clone(), (31, 119, 180)), (format!("val_{}", panel.name), (255, 127, 14))] {
            for (epoch, &v) in hist.history[&name].iter().enumerate() {
                let at = panel.pixel(epoch as f64 + 1.0, v);
                assert!(has_color_near(&pixels, w, at, color, 2), "{name} at epoch {epoch} ({v}) should be drawn near pixel {at:?}");
            }
        }
        // A value the curve never takes is not drawn where it would be.
        let away = panel.pixel(1.0, panel.y.1 - (panel.y.1 - panel.y.0) * 0.02);
        assert!(!has_color_near(&pixels, w, away, (31, 119, 180), 1), "{}: nothing should be drawn at {away:?}", panel.name);
    }
}

#[test]
fn curves_round_trip_through_png_and_svg_files() {
    let curves = Curves::from_history(&history());
    let path = scratch("curves.png");
    plot::save(&curves, &path).unwrap();
    let image = images::read(&path).unwrap();
    assert_eq!((image.width, image.height), (880, 330));
    let (_, _, pixels, _) = plot::render_rgb(&curves).unwrap();
    assert_eq!(image.pixels, pixels, "the PNG holds the rendered pixels");
    let dark = pixels.chunks(3).filter(|p| p.iter().all(|&v| v < 100)).count();
    assert!(dark > 1000, "axes and text are drawn ({dark} dark pixels)");
    let svg_path = scratch("curves.svg");
    plot::save(&curves, &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("val_loss") && svg.contains("polyline"), "an SVG with the curves and their legend");
    let err = plot::save(&curves, &scratch("curves.gif")).unwrap_err().to_string();
    assert!(err.contains(".png or a .svg"), "{err}");
}

#[test]
fn curves_read_a_csv_logger_file_and_refuse_a_broken_one() {
    let path = scratch("log.csv");
    std::fs::write(&path, "epoch,loss,val_loss\n0,1.5,1.6\n1,1.0,\n2,0.5,0.9\n").unwrap();
    let curves = Curves::from_csv(&path).unwrap();
    assert_eq!(curves.epochs, [0, 1, 2]);
    assert_eq!(curves.series[0], ("loss".to_string(), vec![1.5, 1.0, 0.5]));
    assert!(curves.series[1].1[1].is_nan(), "a missing value is a gap");
    plot::render_rgb(&curves).unwrap();
    std::fs::write(&path, "epoch,loss\n0,abc\n").unwrap();
    let err = Curves::from_csv(&path).unwrap_err().to_string();
    assert!(err.contains("log.csv") && err.contains("'abc' is not a number"), "{err}");
    std::fs::write(&path, "loss\n1\n").unwrap();
    assert!(Curves::from_csv(&path).unwrap_err().to_string().contains("not a CSVLogger file"));
    let empty = Curves::default();
    assert!(plot::render_rgb(&empty).unwrap_err().to_string().contains("nothing to plot"));
}

#[test]
fn confusion_matrix_counts_precision_and_recall() {
    let truth = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    let predicted = [0, 0, 1, 1, 1, 2, 2, 0, 2];
    let cm = ConfusionMatrix::new(&truth, &predicted, 3).unwrap();
    assert_eq!((cm.count(0, 0), cm.count(0, 1), cm.count(2, 0)), (2, 1, 1));
    assert_eq!(cm.recall(0), Some(2.0 / 3.0));
    assert_eq!(cm.precision(0), Some(2.0 / 3.0));
    assert_eq!(cm.precision(1), Some(2.0 / 3.0));
    assert_eq!(cm.recall(2), Some(0.75));
    assert!((cm.accuracy() - 7.0 / 9.0).abs() < 1e-12);
    let scores = Tensor::new(predicted.iter().flat_map(|&p| (0..3).map(move |k| if k == p { 0.9 } else { 0.05 })).collect(), &[9, 3]).unwrap();
    let ids = Tensor::new(truth.iter().map(|&t| t as f32).collect(), &[9]).unwrap();
    assert_eq!(ConfusionMatrix::from_scores(&scores, &ids).unwrap(), cm);
    assert!(ConfusionMatrix::new(&[0, 3], &[0, 0], 3).unwrap_err().to_string().contains("label 3"));
    assert!(ConfusionMatrix::from_scores(&scores, &Tensor::new(vec![0.0; 4], &[4]).unwrap()).is_err());
    let (w, h, pixels, panels) = plot::render_rgb(&cm.with_names(&["zero".into(), "one".into(), "two".into()]).unwrap()).unwrap();
    assert!(w > 200 && h > 200);
    // The diagonal of a good row is bright, an empty cell dark.
    let (left, top, right, _) = panels[0].pixels;
    let cell = (right - left) / 3;
    let at = |r: i32, c: i32| {
        let (x, y) = (left + c * cell + 4, top + r * cell + 4);
        let i = ((y * w as i32 + x) * 3) as usize;
        pixels[i] as u32 + pixels[i + 1] as u32 + pixels[i + 2] as u32
    };
    assert!(at(1, 1) > 500 && at(1, 0) < 60, "recall 1.0 is bright ({}), 0 dark ({})", at(1, 1), at(1, 0));
}

#[test]
fn image_grid_lays_out_captioned_pictures() {
    let digit = Tensor::new((0..28 * 28).map(|i| (i % 28) as f32 / 27.0).collect(), &[28, 28, 1]).unwrap();
    let picture = Picture::from_image(&digit, (0.0, 1.0)).unwrap().scaled(2);
    assert_eq!((picture.width, picture.height), (56, 56));
    let mut grid = ImageGrid::new(4).title("misclassified");
    for k in 0..6 {
        grid.push(picture.clone(), format!("{k} as {}", (k + 1) % 10), true);
    }
    let (w, h, pixels, _) = plot::render_rgb(&grid).unwrap();
    assert_eq!((w, h), grid.size());
    assert!(w >= 4 * 56 && h >= 2 * 56);
    let red = pixels.chunks(3).filter(|p| p[0] > 200 && p[1] < 80 && p[2] < 80).count();
    assert!(red > 20, "wrong captions are red ({red} red pixels)");
    let heat = Picture::heat(&[0.0, 1.0, 2.0, 3.0], 2, 2, None);
    assert!(heat.pixels[0] < 10 && heat.pixels[9] > 240, "smallest dark, largest bright");
    assert!(picture.overlay(&heat, 0.5).is_err(), "sizes must agree");
    assert!(Picture::from_image(&Tensor::zeros(&[2, 2, 2]), (0.0, 1.0)).is_err());
}

