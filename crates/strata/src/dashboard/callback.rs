//! The dashboard as a training callback: it publishes each batch's loss and
//! progress (at most ten times a second), each epoch's logs and a grid of
//! predictions on fixed images, and asks `fit` to stop when the page's stop
//! button is pressed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use strata_core::{fmt_shape, Error, Result, Tensor};

use super::board::{finite, Board};
use super::http::Server;
use crate::model::{Callback, Control, Logs, TrainInfo, TrainingModel};
use crate::plot::{self, ImageGrid, Picture};

/// How often batch progress is published at most.
const BATCH_EVERY: Duration = Duration::from_millis(100);

/// Keras-style callback that shows training live on a web page:
///
/// ```no_run
/// # fn main() -> strata::Result<()> {
/// use strata::dashboard::Dashboard;
/// let dashboard = Dashboard::serve("127.0.0.1:6070")?;
/// eprintln!("Dashboard: {}", dashboard.url().unwrap_or_default());
/// // FitOptions { callbacks: vec![Box::new(dashboard)], .. }
/// # Ok(()) }
/// ```
pub struct Dashboard {
    board: Arc<Board>,
    server: Option<Arc<Server>>,
    name: String,
    stop: Arc<AtomicBool>,
    preview: Option<(Tensor, Vec<usize>)>,
    log: Option<PathBuf>,
    info: Option<TrainInfo>,
    epoch: usize,
    step: u64,
    learning_rate: Option<f64>,
    epoch_started: Instant,
    last_publish: Option<Instant>,
}

impl Dashboard {
    /// A dashboard with its own server on `addr` (`127.0.0.1:6070`; port 0
    /// picks a free one: see [`Dashboard::url`]).
    pub fn serve(addr: &str) -> Result<Dashboard> {
        let board = Board::new();
        let server = Server::start(addr, board.clone())?;
        let mut d = Dashboard::on_board(board);
        d.server = Some(Arc::new(server));
        Ok(d)
    }

    /// A dashboard that publishes to `board` (shown by a [`Server`] started elsewhere).
    pub fn on_board(board: Arc<Board>) -> Dashboard {
        let name = format!("run-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
        Dashboard { board, server: None, name, stop: Arc::new(AtomicBool::new(false)), preview: None, log: None, info: None, epoch: 0, step: 0, learning_rate: None, epoch_started: Instant::now(), last_publish: None }
    }

    /// Names the run (default `run-<unix time>`).
    pub fn run_name(mut self, name: &str) -> Dashboard {
        self.name = name.to_string();
        self
    }

    /// Shows the model's predictions on these images (`[n, h, w, 1 or 3]`,
    /// at most 32 used) with their true classes, redrawn after every epoch.
    pub fn preview(mut self, images: &Tensor, labels: &[usize]) -> Result<Dashboard> {
        let n = images.shape().first().copied().unwrap_or(0);
        if images.shape().len() != 4 || n != labels.len() || n == 0 {
            return Err(Error::shape("Dashboard::preview", format!("needs images [n, height, width, channels] and n labels, got {} and {} labels", fmt_shape(images.shape()), labels.len())));
        }
        let keep = n.min(32);
        let per = images.numel() / n;
        let mut shape = images.shape().to_vec();
        shape[0] = keep;
        self.preview = Some((Tensor::new(images.to_vec()[..keep * per].to_vec(), &shape)?, labels[..keep].to_vec()));
        Ok(self)
    }

    /// Also appends each epoch's logs to `dir/<run name>.jsonl`, which
    /// `strata dashboard --logdir dir` shows beside other runs.
    pub fn logdir(mut self, dir: &Path) -> Result<Dashboard> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.log = Some(dir.to_path_buf());
        Ok(self)
    }

    /// The page's address, when this dashboard runs its own server.
    pub fn url(&self) -> Option<String> {
        self.server.as_ref().map(|s| s.url())
    }

    /// The board it publishes to.
    pub fn board(&self) -> Arc<Board> {
        self.board.clone()
    }

    fn append_log(&self, line: Value) -> Result<()> {
        let Some(dir) = &self.log else { return Ok(()) };
        let path = dir.join(format!("{}.jsonl", self.name));
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        f.write_all(format!("{line}\n").as_bytes()).and_then(|_| f.flush()).map_err(|e| Error::io(&path, e))
    }

    fn progress(&self, batch: usize) -> Map<String, Value> {
        let info = self.info.as_ref();
        let steps = info.map_or(0, |i| i.steps);
        let batch_size = info.map_or(0.0, |i| i.samples as f64 / i.steps.max(1) as f64);
        let elapsed = self.epoch_started.elapsed().as_secs_f64().max(1e-9);
        let per_batch = elapsed / (batch + 1) as f64;
        let epochs_left = info.map_or(0, |i| i.epochs.saturating_sub(self.epoch + 1));
        let left = per_batch * (steps.saturating_sub(batch + 1) + epochs_left * steps) as f64;
        let mut p = Map::new();
        p.insert("epoch".into(), json!(self.epoch));
        p.insert("epochs".into(), json!(info.map_or(0, |i| i.epochs)));
        p.insert("batch".into(), json!(batch));
        p.insert("steps".into(), json!(steps));
        p.insert("samples_per_second".into(), finite((batch + 1) as f64 * batch_size / elapsed));
        p.insert("learning_rate".into(), self.learning_rate.map_or(Value::Null, finite));
        p.insert("memory_mb".into(), resident_mb().map_or(Value::Null, finite));
        p.insert("seconds_left".into(), finite(left));
        p
    }

    fn publish_predictions(&self, model: &mut dyn TrainingModel) -> Result<()> {
        let Some((images, labels)) = &self.preview else { return Ok(()) };
        let scores = model.predict(images, 64)?.into_iter().next().ok_or_else(|| Error::State("the model gave no output".into()))?;
        let predicted = plot::argmax(&scores)?;
        let &[n, h, w, c] = images.shape() else { return Ok(()) };
        let values = images.to_vec();
        let range = plot::value_range(&values);
        let right = predicted.iter().zip(labels).filter(|(p, t)| p == t).count();
        let mut grid = ImageGrid::new(8).title(format!("epoch {}: {right} of {n} right", self.epoch + 1));
        for (i, (&p, &t)) in predicted.iter().zip(labels).enumerate() {
            grid.push(Picture::from_batch(&values, (h, w, c), i, range)?.scaled((56 / h.max(w)).max(1)), format!("{p} (true {t})"), p != t);
        }
        let (width, height, pixels, _) = plot::render_rgb(&grid)?;
        self.board.predictions(&self.name, crate::data::images::encode_png(width as usize, height as usize, 3, &pixels)?);
        Ok(())
    }
}

/// Logs as a JSON object (NaN and infinities as null).
fn log_map(logs: &Logs) -> Map<String, Value> {
    logs.0.iter().map(|(name, value)| (name.clone(), finite(*value))).collect()
}

/// Resident memory of this process in MB (Linux), if known.
pub(crate) fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

impl Callback for Dashboard {
    fn primary_only(&self) -> bool {
        true
    }
    fn on_train_begin(&mut self, info: &TrainInfo) {
        self.info = Some(info.clone());
        self.step = (info.initial_epoch * info.steps) as u64;
        self.stop = self.board.start_run(&self.name, true);
    }

    fn on_epoch_begin(&mut self, epoch: usize, model: &mut dyn TrainingModel) -> Result<()> {
        self.epoch = epoch;
        self.epoch_started = Instant::now();
        self.learning_rate = model.optimizer_mut().map(|o| o.learning_rate() as f64);
        Ok(())
    }

    fn on_batch_end(&mut self, batch: usize, logs: &Logs) {
        self.step += 1;
        let last = self.info.as_ref().is_some_and(|i| batch + 1 == i.steps);
        if last || self.last_publish.is_none_or(|t| t.elapsed() >= BATCH_EVERY) {
            self.last_publish = Some(Instant::now());
            let progress = self.progress(batch);
            self.board.batch(&self.name, self.step, log_map(logs), progress);
        }
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, model: &mut dyn TrainingModel) -> Result<Control> {
        let mut map = log_map(logs);
        map.insert("epoch".into(), json!(epoch));
        self.board.epoch(&self.name, map.clone());
        self.publish_predictions(model)?;
        self.append_log(json!({ "type": "epoch", "logs": map }))?;
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _logs: &Logs, _model: &mut dyn TrainingModel) -> Result<()> {
        let status = if self.stop.load(Ordering::Relaxed) { "stopped" } else { "finished" };
        self.board.end_run(&self.name, status);
        self.append_log(json!({ "type": "status", "status": status }))
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
