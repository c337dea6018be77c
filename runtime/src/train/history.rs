//! What training leaves beside the model: `history.csv` (one row per epoch, Keras' History keys) and
//! a loss-curve PNG.
use std::path::Path;

use plotters::prelude::*;

use super::EpochLog;
use crate::error::RuntimeError;

pub fn write_history_csv(path: &Path, history: &[EpochLog]) -> Result<(), RuntimeError> {
    let Some(first) = history.first() else { return Ok(()) };
    let mut header = vec!["epoch".to_string(), "loss".to_string()];
    header.extend(first.metrics.iter().map(|(m, _)| m.clone()));
    if first.val_loss.is_some() {
        header.push("val_loss".into());
        header.extend(first.val_metrics.iter().map(|(m, _)| format!("val_{m}")));
    }
    let mut text = header.join(",") + "\n";
    for log in history {
        let mut row = vec![log.epoch.to_string(), format!("{}", log.loss)];
        row.extend(log.metrics.iter().map(|(_, v)| format!("{v}")));
        if let Some(v) = log.val_loss {
            row.push(format!("{v}"));
            row.extend(log.val_metrics.iter().map(|(_, v)| format!("{v}")));
        }
        text += &(row.join(",") + "\n");
    }
    onyx_proto::atomic_write(path, text.as_bytes())?;
    Ok(())
}

/// Common places of a sans-serif TrueType font; plotters draws text with one it is given, which keeps
/// the build free of system font libraries.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system font for plotters once; false when none is found.
fn register_font() -> bool {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REGISTERED.get_or_init(|| {
        FONTS.iter().filter_map(|p| std::fs::read(p).ok()).any(|bytes| {
            // plotters keeps the font for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// Training (and validation) loss per epoch, as a PNG.
pub fn write_loss_plot(path: &Path, history: &[EpochLog]) -> Result<(), RuntimeError> {
    let plot_error = |e: String| RuntimeError::Data { path: path.to_path_buf(), message: format!("drawing the loss curve: {e}") };
    if history.is_empty() {
        return Ok(());
    }
    if !register_font() {
        return Err(plot_error(format!("no TrueType font found (looked for {})", FONTS.join(", "))));
    }
    let series: Vec<(&str, Vec<(f64, f64)>)> = [("loss", history.iter().map(|l| (l.epoch as f64, l.loss)).collect::<Vec<_>>()), ("val_loss", history.iter().filter_map(|l| l.val_loss.map(|v| (l.epoch as f64, v))).collect())]
        .into_iter()
        .filter(|(_, points)| !points.is_empty())
        .collect();
    let values = series.iter().flat_map(|(_, p)| p.iter().map(|(_, v)| *v)).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let epochs = history.len().max(2) as f64;
    // Draw to a temporary file, then move it into place, as every file onyx writes.
    let tmp = path.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("loss per epoch", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(1.0..epochs, (lo - pad)..(hi + pad))
            .map_err(|e| plot_error(e.to_string()))?;
        chart.configure_mesh().x_desc("epoch").y_desc("loss").draw().map_err(|e| plot_error(e.to_string()))?;
        for ((name, points), color) in series.into_iter().zip([BLUE, RED]) {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| plot_error(e.to_string()))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| plot_error(e.to_string()))?;
        root.present().map_err(|e| plot_error(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })
}
