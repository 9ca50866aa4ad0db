//! The confusion matrix of a classifier, with per-class precision and recall.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use strata_core::{fmt_shape, Error, Result, Tensor};

use super::{failed, heat_color, Figure, Panel, FAMILY};

const CELL: i32 = 46;
const LEFT: i32 = 110;
const TOP: i32 = 70;

/// Counts of (true class, predicted class) pairs. Row `t` holds the samples
/// of class `t`; its diagonal cell, over the row's sum, is the class's
/// recall, and the column's diagonal over the column's sum its precision.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
    names: Vec<String>,
}

impl ConfusionMatrix {
    /// The matrix of class ids: `truth[i]` and `predicted[i]` below `classes`.
    pub fn new(truth: &[usize], predicted: &[usize], classes: usize) -> Result<ConfusionMatrix> {
        if truth.len() != predicted.len() {
            return Err(Error::argument("ConfusionMatrix", format!("{} true labels against {} predictions", truth.len(), predicted.len())));
        }
        if classes == 0 {
            return Err(Error::argument("ConfusionMatrix", "needs at least one class"));
        }
        let mut counts = vec![0u64; classes * classes];
        for (i, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
            if t >= classes || p >= classes {
                return Err(Error::argument("ConfusionMatrix", format!("sample {i}: label {t} or prediction {p} is not below the {classes} classes")));
            }
            counts[t * classes + p] += 1;
        }
        Ok(ConfusionMatrix { classes, counts, names: (0..classes).map(|k| k.to_string()).collect() })
    }

    /// The matrix of a model's class scores `[n, classes]` against targets:
    /// one-hot `[n, classes]` or class ids `[n]` / `[n, 1]`.
    pub fn from_scores(scores: &Tensor, targets: &Tensor) -> Result<ConfusionMatrix> {
        let &[n, classes] = scores.shape() else {
            return Err(Error::shape("ConfusionMatrix", format!("needs class scores [samples, classes], got {}", fmt_shape(scores.shape()))));
        };
        let truth = class_ids(targets, n, classes)?;
        ConfusionMatrix::new(&truth, &argmax_rows(&scores.to_vec(), classes), classes)
    }

    /// Names the classes (in label order) for the plot.
    pub fn with_names(mut self, names: &[String]) -> Result<ConfusionMatrix> {
        if names.len() != self.classes {
            return Err(Error::argument("--class-names", format!("{} names for {} classes", names.len(), self.classes)));
        }
        self.names = names.to_vec();
        Ok(self)
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
    /// Samples of class `truth` predicted as `predicted`.
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.classes + predicted]
    }
    fn row(&self, t: usize) -> u64 {
        (0..self.classes).map(|p| self.count(t, p)).sum()
    }
    fn column(&self, p: usize) -> u64 {
        (0..self.classes).map(|t| self.count(t, p)).sum()
    }
    /// Of the samples predicted as `class`, the share that are (None if none were).
    pub fn precision(&self, class: usize) -> Option<f64> {
        let total = self.column(class);
        (total > 0).then(|| self.count(class, class) as f64 / total as f64)
    }
    /// Of the samples of `class`, the share predicted as it (None if there are none).
    pub fn recall(&self, class: usize) -> Option<f64> {
        let total = self.row(class);
        (total > 0).then(|| self.count(class, class) as f64 / total as f64)
    }
    /// The share of all samples on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let right: u64 = (0..self.classes).map(|k| self.count(k, k)).sum();
        if total == 0 { 0.0 } else { right as f64 / total as f64 }
    }
}

/// The class each row of scores `[n, classes]` rates highest.
pub fn argmax(scores: &Tensor) -> Result<Vec<usize>> {
    match scores.shape() {
        &[_, classes] if classes > 0 => Ok(argmax_rows(&scores.to_vec(), classes)),
        other => Err(Error::shape("argmax", format!("needs class scores [samples, classes], got {}", fmt_shape(other)))),
    }
}

/// The index of each row's largest value.
pub(crate) fn argmax_rows(values: &[f32], width: usize) -> Vec<usize> {
    values.chunks_exact(width).map(|row| row.iter().enumerate().fold(0, |best, (k, v)| if *v > row[best] { k } else { best })).collect()
}

/// Class ids from `n` targets: one-hot `[n, classes]` or ids `[n]` / `[n, 1]`.
pub fn class_ids(targets: &Tensor, n: usize, classes: usize) -> Result<Vec<usize>> {
    let values = targets.to_vec();
    match targets.shape() {
        [m, c] if *m == n && *c == classes && classes > 1 => Ok(argmax_rows(&values, classes)),
        [m] | [m, 1] if *m == n => values
            .iter()
            .enumerate()
            .map(|(i, &v)| if v >= 0.0 && v.fract() == 0.0 && (v as usize) < classes { Ok(v as usize) } else { Err(Error::argument("targets", format!("sample {i}: label {v} is not a class id below {classes}"))) })
            .collect(),
        other => Err(Error::shape("targets", format!("expected one-hot [{n}, {classes}] or class ids [{n}], got {}", fmt_shape(other)))),
    }
}

fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}", v * 100.0)).unwrap_or_else(|| "-".to_string())
}

impl Figure for ConfusionMatrix {
    fn size(&self) -> (u32, u32) {
        let side = CELL * self.classes as i32;
        ((LEFT + side + CELL + 30) as u32, (TOP + side + CELL + 16) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Vec<Panel>> {
        let fail = failed("confusion matrix");
        let k = self.classes as i32;
        let text = |size: u32| TextStyle::from((FAMILY, size)).color(&BLACK);
        let centred = |size: u32| text(size).pos(Pos::new(HPos::Center, VPos::Center));
        let title = format!("accuracy {:.2}% of {} samples", self.accuracy() * 100.0, self.counts.iter().sum::<u64>());
        area.draw(&Text::new(title, (LEFT, 14), text(16))).map_err(&fail)?;
        area.draw(&Text::new("predicted", (LEFT + k * CELL / 2, TOP - 34), centred(14))).map_err(&fail)?;
        area.draw(&Text::new("true", (16, TOP + k * CELL / 2), centred(14))).map_err(&fail)?;
        area.draw(&Text::new("recall %", (LEFT + k * CELL + CELL / 2 + 4, TOP - 14), centred(12))).map_err(&fail)?;
        area.draw(&Text::new("precision %", (LEFT - 50, TOP + k * CELL + CELL / 2), centred(12))).map_err(&fail)?;
        for t in 0..self.classes {
            let row = self.row(t).max(1) as f32;
            let y = TOP + t as i32 * CELL;
            let name = self.names[t].chars().take(12).collect::<String>();
            let right = text(12).pos(Pos::new(HPos::Right, VPos::Center));
            area.draw(&Text::new(name.clone(), (LEFT - 8, y + CELL / 2), right)).map_err(&fail)?;
            area.draw(&Text::new(name, (LEFT + t as i32 * CELL + CELL / 2, TOP - 12), centred(12))).map_err(&fail)?;
            for p in 0..self.classes {
                let x = LEFT + p as i32 * CELL;
                let share = self.count(t, p) as f32 / row;
                let fill = heat_color(share);
                area.draw(&Rectangle::new([(x, y), (x + CELL, y + CELL)], fill.filled())).map_err(&fail)?;
                let ink = if share > 0.6 { BLACK } else { WHITE };
                area.draw(&Text::new(self.count(t, p).to_string(), (x + CELL / 2, y + CELL / 2), centred(12).color(&ink))).map_err(&fail)?;
            }
            let x = LEFT + k * CELL + 4;
            area.draw(&Text::new(percent(self.recall(t)), (x + CELL / 2, y + CELL / 2), centred(12))).map_err(&fail)?;
            let x = LEFT + t as i32 * CELL;
            area.draw(&Text::new(percent(self.precision(t)), (x + CELL / 2, TOP + k * CELL + CELL / 2 + 4), centred(12))).map_err(&fail)?;
        }
        area.draw(&Rectangle::new([(LEFT, TOP), (LEFT + k * CELL, TOP + k * CELL)], BLACK.stroke_width(1))).map_err(&fail)?;
        Ok(vec![Panel { name: "confusion matrix".into(), x: (0.0, k as f64), y: (k as f64, 0.0), pixels: (LEFT, TOP, LEFT + k * CELL, TOP + k * CELL) }])
    }
}
