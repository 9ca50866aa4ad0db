//! `strata plot history`: training curves from a saved model or a CSV log.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use strata::model::Model;
use strata::plot::{self, ConfusionMatrix, Curves, ImageGrid, Picture};
use strata::{Error, Result, Tensor};

#[derive(Subcommand)]
pub enum PlotCommand {
    /// Loss and metrics per epoch, training and validation, from a saved model
    /// (its history; a checkpoint of a running training too) or a CSVLogger file.
    History {
        /// A model saved by Strata (.safetensors) or a CSV log (`epoch,loss,...`).
        source: PathBuf,
        /// The picture to write: .png or .svg.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(command: PlotCommand) -> Result<()> {
    match command {
        PlotCommand::History { source, out } => {
            crate::checks::writable("--out", &out)?;
            let curves = if source.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
                Curves::from_csv(&source)?
            } else {
                Curves::from_history(Model::load(&source)?.history())
            };
            if curves.epochs.is_empty() {
                return Err(Error::data(&source, "holds no training history (no epoch was logged)"));
            }
            plot::save(&curves, &out)?;
            eprintln!("Wrote {} epochs of {} to {}", curves.epochs.len(), curves.panel_names().join(", "), out.display());
            Ok(())
        }
    }
}

/// Writes the confusion matrix of `scores` against `targets` to `path`.
pub fn confusion_matrix(scores: &Tensor, targets: &Tensor, names: &[String], path: &Path) -> Result<ConfusionMatrix> {
    let mut cm = ConfusionMatrix::from_scores(scores, targets)?;
    if !names.is_empty() {
        cm = cm.with_names(names)?;
    }
    plot::save(&cm, path)?;
    Ok(cm)
}

/// Writes a grid of up to `count` misclassified images, each captioned
/// "true as predicted"; returns how many were wrong in all.
pub fn misclassified(x: &Tensor, scores: &Tensor, targets: &Tensor, names: &[String], count: usize, path: &Path) -> Result<usize> {
    let (&[n, h, w, c], &[_, classes]) = (x.shape(), scores.shape()) else {
        return Err(Error::argument("--misclassified", format!("needs images [n, height, width, channels] and class scores, got inputs {}", strata::core::fmt_shape(x.shape()))));
    };
    let predicted = strata::plot::argmax(scores)?;
    let actual = strata::plot::class_ids(targets, n, classes)?;
    let name = |k: usize| names.get(k).cloned().unwrap_or_else(|| k.to_string());
    let values = x.to_vec();
    let range = plot::value_range(&values);
    let wrong: Vec<usize> = (0..n).filter(|&i| predicted[i] != actual[i]).collect();
    let accuracy = 1.0 - wrong.len() as f64 / n.max(1) as f64;
    let mut grid = ImageGrid::new(8).title(format!("{} of {n} misclassified (accuracy {:.2}%): true as predicted", wrong.len(), accuracy * 100.0));
    let scale = (64 / h.max(w)).max(1);
    for &i in wrong.iter().take(count) {
        grid.push(Picture::from_batch(&values, (h, w, c), i, range)?.scaled(scale), format!("{} as {}", name(actual[i]), name(predicted[i])), true);
    }
    if grid.is_empty() {
        return Err(Error::argument("--misclassified", "every sample was classified right: there is nothing to show"));
    }
    plot::save(&grid, path)?;
    Ok(wrong.len())
}
