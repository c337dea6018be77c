//! The seed's LSTM (models/lstm_forecast.toml) forecasting yearly sunspots one year ahead from the
//! last 12 (about one solar cycle): windows standardized, the last fifth of the series held out, and
//! the forecast's error there set against persistence (next year = this year), the baseline a
//! forecast must beat.
use std::path::Path;

use onyx::train::{Data, TrainOptions, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir()?;
    let options = TrainOptions {
        target: Some("SUNACTIVITY".into()),
        window: Some(12),
        standardize: true,
        validation_split: Some(0.2),
        batch_size: Some(16),
        epochs: Some(60),
        output: Some(out.path().join("sunspots.onnx")),
        ..TrainOptions::default()
    };
    let data = Data::Path(repo.join("data/sunspots.csv"));
    let trained = train(&repo.join("models/lstm_forecast.toml"), &data, &options, &onyx::TractEngine, &mut |_| {})?;
    let check = trained.forecast.ok_or("a held-out part gives a forecast check")?;
    println!(
        "{} epochs in {:.1} s: RMSE {:.2} sunspots on the last {} years, persistence {:.2}",
        trained.history.len(),
        trained.seconds,
        check.rmse,
        check.windows,
        check.persistence
    );
    if check.rmse >= check.persistence {
        return Err("the LSTM does not beat persistence".into());
    }
    Ok(())
}
