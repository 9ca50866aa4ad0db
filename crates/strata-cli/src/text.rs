//! `strata generate` and `strata evaluate --text`: a saved next-token model
//! (its first layer a `TextVectorization`, whose vocabulary it carries) continues a
//! prompt, or scores a text file in nats per token.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use strata::model::Model;
use strata::{Error, Result, Rng};

#[derive(Args)]
pub struct GenerateArgs {
    /// A next-token model saved by Strata, starting with a TextVectorization
    /// (the `char_lm` example's `--save`).
    #[arg(long)]
    model: PathBuf,
    /// The text to continue.
    #[arg(long, default_value = "")]
    prompt: String,
    /// How many tokens (characters, for a character model) to add.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    length: u64,
    /// Divides the model's log-probabilities before sampling: below 1 is more conservative, above 1 more varied.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Seeds the sampling: the same seed gives the same text.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn generate(args: GenerateArgs) -> Result<()> {
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        return Err(Error::argument("--temperature", format!("must be a positive number, got {}", args.temperature)));
    }
    let mut model = Model::load(&args.model)?;
    let text = model.generate_text(&args.prompt, args.length as usize, args.temperature, &mut Rng::new(args.seed)).map_err(|e| in_model(e, &args.model))?;
    println!("{text}");
    Ok(())
}

/// Names the model file in an error about the model.
fn in_model(e: Error, path: &Path) -> Error {
    match e {
        Error::State(msg) => Error::data(path, msg),
        other => other,
    }
}

/// `strata evaluate --text FILE`: the model's mean next-token loss over the file.
pub fn evaluate_text(model_path: &Path, file: &Path, batch_size: usize, json_out: bool) -> Result<()> {
    let text = strata::data::text::read_nonempty_text(file)?;
    let mut model = Model::load(model_path)?;
    let loss = model.text_loss(&text, batch_size).map_err(|e| match e {
        Error::Argument { msg, .. } => Error::data(file, msg),
        other => in_model(other, model_path),
    })?;
    let bits = loss.loss / std::f64::consts::LN_2;
    if json_out {
        println!("{}", json!({ "loss": loss.loss, "bits_per_token": bits, "tokens": loss.tokens, "file": file.display().to_string() }));
    } else {
        println!("{}: loss {:.4} nats per token ({bits:.3} bits) over {} tokens", file.display(), loss.loss, loss.tokens);
    }
    Ok(())
}
