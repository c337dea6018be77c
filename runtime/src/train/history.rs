//! What training leaves beside the model: `history.csv` (one row per epoch, Keras' History keys and
//! the epoch's wall time in seconds) and a loss-curve PNG.
use std::path::Path;

use super::EpochLog;
use crate::error::RuntimeError;
use crate::plot::line_chart;

pub fn write_history_csv(path: &Path, history: &[EpochLog]) -> Result<(), RuntimeError> {
    let Some(first) = history.first() else { return Ok(()) };
    let mut header = vec!["epoch".to_string(), "loss".to_string()];
    header.extend(first.metrics.iter().map(|(m, _)| m.clone()));
    if first.val_loss.is_some() {
        header.push("val_loss".into());
        header.extend(first.val_metrics.iter().map(|(m, _)| format!("val_{m}")));
    }
    header.push("seconds".into());
    let mut text = header.join(",") + "\n";
    for log in history {
        let mut row = vec![log.epoch.to_string(), format!("{}", log.loss)];
        row.extend(log.metrics.iter().map(|(_, v)| format!("{v}")));
        if let Some(v) = log.val_loss {
            row.push(format!("{v}"));
            row.extend(log.val_metrics.iter().map(|(_, v)| format!("{v}")));
        }
        row.push(format!("{:.3}", log.seconds));
        text += &(row.join(",") + "\n");
    }
    onyx_proto::atomic_write(path, text.as_bytes())?;
    Ok(())
}

/// Training (and validation) loss per epoch, as a PNG.
pub fn write_loss_plot(path: &Path, history: &[EpochLog]) -> Result<(), RuntimeError> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = vec![
        ("loss", history.iter().map(|l| (l.epoch as f64, l.loss)).collect()),
        ("val_loss", history.iter().filter_map(|l| l.val_loss.map(|v| (l.epoch as f64, v))).collect()),
    ];
    line_chart(path, "loss per epoch", ("epoch", "loss"), &series)
}
