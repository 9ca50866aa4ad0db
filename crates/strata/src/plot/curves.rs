//! Training curves: one panel per metric, training and validation together.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use strata_core::{Error, Result};

use super::{failed, padded_range, Figure, Panel, FAMILY, TRAIN, VALIDATION};
use crate::model::History;

const PANEL: (u32, u32) = (440, 330);
const COLUMNS: usize = 3;

/// Loss and metrics per epoch, drawn as one panel per metric with its
/// validation twin (`loss` with `val_loss`), as Keras users draw
/// `history.history` with matplotlib.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curves {
    /// The epoch of each point (0-based, as logged; drawn 1-based).
    pub epochs: Vec<usize>,
    /// Each logged name and its value per epoch (NaN where an epoch lacks it).
    pub series: Vec<(String, Vec<f64>)>,
}

impl Curves {
    /// The curves of a model's history (`model.history()`, or the history a
    /// saved model carries).
    pub fn from_history(history: &History) -> Curves {
        let series = history.history.iter().map(|(name, values)| (name.clone(), values.clone())).collect();
        Curves { epochs: history.epoch.clone(), series }
    }

    /// The curves of a `CSVLogger` file (`epoch,loss,...`, one row per epoch;
    /// Keras's CSVLogger writes the same).
    pub fn from_csv(path: &Path) -> Result<Curves> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines.next().ok_or_else(|| Error::data(path, "is empty: expected a CSVLogger header `epoch,loss,...`"))?.split(',').map(str::trim).collect();
        if header.first() != Some(&"epoch") {
            return Err(Error::data(path, format!("the first column is '{}', not 'epoch': not a CSVLogger file", header.first().unwrap_or(&""))));
        }
        let mut curves = Curves { epochs: Vec::new(), series: header[1..].iter().map(|n| (n.to_string(), Vec::new())).collect() };
        for (row, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != header.len() {
                return Err(Error::data(path, format!("row {} has {} values, the header {}", row + 2, cells.len(), header.len())));
            }
            let epoch = cells[0].parse::<usize>().map_err(|_| Error::data(path, format!("row {}: epoch '{}' is not a whole number", row + 2, cells[0])))?;
            curves.epochs.push(epoch);
            for ((_, values), cell) in curves.series.iter_mut().zip(&cells[1..]) {
                let value = if cell.is_empty() { Ok(f64::NAN) } else { cell.parse::<f64>() };
                values.push(value.map_err(|_| Error::data(path, format!("row {}: '{cell}' is not a number", row + 2)))?);
            }
        }
        Ok(curves)
    }

    /// The panels' names: each logged name that is not a `val_` twin of
    /// another, in the order logged.
    pub fn panel_names(&self) -> Vec<String> {
        let has = |name: &str| self.series.iter().any(|(n, _)| n == name);
        self.series.iter().map(|(n, _)| n.clone()).filter(|n| !(n.starts_with("val_") && has(&n[4..]))).collect()
    }

    fn values(&self, name: &str) -> Option<&[f64]> {
        self.series.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    fn draw_panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, name: &str) -> Result<Panel> {
        let lines: Vec<(String, &[f64], RGBColor)> = [(name.to_string(), TRAIN), (format!("val_{name}"), VALIDATION)]
            .into_iter()
            .filter_map(|(n, color)| self.values(&n).map(|v| (n, v, color)))
            .collect();
        let x_of = |i: usize| self.epochs.get(i).map(|e| *e as f64 + 1.0).unwrap_or(i as f64 + 1.0);
        let n = lines.iter().map(|(_, v, _)| v.len()).max().unwrap_or(0);
        let x = (x_of(0).min(x_of(n.saturating_sub(1))) - 0.5, x_of(n.saturating_sub(1)) + 0.5);
        let y = padded_range(lines.iter().flat_map(|(_, v, _)| v.iter().copied()));
        let fail = failed("training curves");
        let mut chart = ChartBuilder::on(area)
            .caption(name, (FAMILY, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)
            .map_err(&fail)?;
        chart.configure_mesh().x_desc("epoch").label_style((FAMILY, 12)).axis_desc_style((FAMILY, 13)).x_label_formatter(&|v| format!("{v:.0}")).draw().map_err(&fail)?;
        for (label, values, color) in &lines {
            let points: Vec<(f64, f64)> = values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, v)| (x_of(i), *v)).collect();
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(&fail)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            if points.len() <= 40 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(&fail)?;
            }
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK.mix(0.4)).label_font((FAMILY, 12)).draw().map_err(&fail)?;
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        Ok(Panel { name: name.to_string(), x, y, pixels: (xs.start, ys.start, xs.end - 1, ys.end - 1) })
    }
}

impl Figure for Curves {
    fn size(&self) -> (u32, u32) {
        let panels = self.panel_names().len().max(1);
        let (columns, rows) = (panels.min(COLUMNS), panels.div_ceil(COLUMNS));
        (PANEL.0 * columns as u32, PANEL.1 * rows as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Vec<Panel>> {
        let names = self.panel_names();
        if names.is_empty() || self.series.iter().all(|(_, v)| v.is_empty()) {
            return Err(Error::argument("training curves", "there is nothing to plot: the history has no epochs"));
        }
        let (columns, rows) = (names.len().min(COLUMNS), names.len().div_ceil(COLUMNS));
        let cells = area.split_evenly((rows, columns));
        names.iter().zip(&cells).map(|(name, cell)| self.draw_panel(cell, name)).collect()
    }
}
