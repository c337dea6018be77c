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
/// non-finite values do not stretch the axes. x counts something (epochs, steps), so its axis is
/// labelled with whole numbers.
pub fn line_chart(path: &Path, title: &str, (x_desc, y_desc): (&str, &str), lines: &[(&str, Vec<(f64, f64)>)]) -> Result<(), RuntimeError> {
    let plot_error = |e: String| RuntimeError::Data { path: path.to_path_buf(), message: format!("drawing {title}: {e}") };
    let lines: Vec<&(&str, Vec<(f64, f64)>)> = lines.iter().filter(|(_, points)| !points.is_empty()).collect();
    if lines.is_empty() {
        return Ok(());
    }
    if !register_font() {
        return Err(plot_error(format!("no TrueType font found (looked for {})", FONTS.join(", "))));
    }
    let range = |values: &mut dyn Iterator<Item = f64>| {
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (x_lo, x_hi) = range(&mut lines.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)));
    let (lo, hi) = range(&mut lines.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)));
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let (x_lo, x_hi) = (x_lo.floor() as i64, x_hi.ceil() as i64);
    let x_hi = if x_hi > x_lo { x_hi } else { x_lo + 1 };
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
                .draw_series(LineSeries::new(points.iter().map(|&(x, y)| (x.round() as i64, y)), color.stroke_width(2)))
                .map_err(|e| plot_error(e.to_string()))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| plot_error(e.to_string()))?;
        root.present().map_err(|e| plot_error(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })
}

/// A confusion matrix as a PNG: one cell per (true, predicted) pair, shaded by its share of the
/// true class's samples and labelled with its count.
pub fn confusion_matrix(path: &Path, title: &str, labels: &[String], counts: &[Vec<u64>]) -> Result<(), RuntimeError> {
    let plot_error = |e: String| RuntimeError::Data { path: path.to_path_buf(), message: format!("drawing {title}: {e}") };
    if !register_font() {
        return Err(plot_error(format!("no TrueType font found (looked for {})", FONTS.join(", "))));
    }
    let k = labels.len().max(1);
    let cell = (560 / k as u32).clamp(24, 120);
    if counts.len() > k {
        return Err(plot_error(format!("{} rows of counts for {k} labels", counts.len())));
    }
    let side = cell * k as u32;
    let tmp = path.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (side + 220, side + 170)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(120)
            // A segmented range 0..n holds n + 1 segments.
            .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())
            .map_err(|e| plot_error(e.to_string()))?;
        // Rows from the top: the first class at the top, as a table reads.
        let name = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < k => labels.get(if flip { k - 1 - i } else { *i }).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(k)
            .y_labels(k)
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .draw()
            .map_err(|e| plot_error(e.to_string()))?;
        for (t, row) in counts.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            let y = k - 1 - t.min(k - 1);
            for (p, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let shade = RGBColor((255.0 - 200.0 * share) as u8, (255.0 - 140.0 * share) as u8, 255);
                let cell_area = [(SegmentValue::Exact(p), SegmentValue::Exact(y)), (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1))];
                chart.draw_series(std::iter::once(Rectangle::new(cell_area, shade.filled()))).map_err(|e| plot_error(e.to_string()))?;
                let text = Text::new(
                    count.to_string(),
                    (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                    ("sans-serif", 16).into_font().color(&BLACK),
                );
                chart.draw_series(std::iter::once(text)).map_err(|e| plot_error(e.to_string()))?;
            }
        }
        root.present().map_err(|e| plot_error(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })
}
