//! Line charts as PNG, drawn with plotters and a system TrueType font, written atomically: the loss
//! curves of training and the forecasts of a series.
use std::path::Path;

use plotters::prelude::*;

use crate::error::RuntimeError;

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

/// Named lines of (x, y) points in one chart, with a legend; empty lines are left out and
/// non-finite values do not stretch the axes.
pub fn line_chart(path: &Path, title: &str, (x_desc, y_desc): (&str, &str), lines: &[(&str, Vec<(f64, f64)>)]) -> Result<(), RuntimeError> {
    let plot_error = |e: String| RuntimeError::Data { path: path.to_path_buf(), message: format!("drawing {title}: {e}") };
    let lines: Vec<&(&str, Vec<(f64, f64)>)> = lines.iter().filter(|(_, points)| !points.is_empty()).collect();
    if lines.is_empty() {
        return Ok(());
    }
    if !register_font() {
        return Err(plot_error(format!("no TrueType font found (looked for {})", FONTS.join(", "))));
    }
    let range = |values: &mut dyn Iterator<Item = f64>| values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (x_lo, x_hi) = range(&mut lines.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)));
    let (lo, hi) = range(&mut lines.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)));
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let x_hi = if x_hi > x_lo { x_hi } else { x_lo + 1.0 };
    // Draw to a temporary file, then move it into place, as every file onyx writes.
    let tmp = path.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (900, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_lo..x_hi, (lo - pad)..(hi + pad))
            .map_err(|e| plot_error(e.to_string()))?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw().map_err(|e| plot_error(e.to_string()))?;
        for ((name, points), color) in lines.into_iter().zip([BLUE, RED, GREEN, MAGENTA].into_iter().cycle()) {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| plot_error(e.to_string()))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| plot_error(e.to_string()))?;
        root.present().map_err(|e| plot_error(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })
}
