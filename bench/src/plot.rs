//! The report's plots, as SVG: latency against N per application (like the
//! Cedar paper's Fig. 14, log-scale y), latency against the number of rules
//! and compile time against the number of rules.

use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::apps::App;
use crate::contenders::VARIANTS;
use crate::generate::SIZES;
use crate::report::{Results, human_ns};

const COLORS: [RGBColor; 7] = [
    RGBColor(214, 39, 40),   // cedar
    RGBColor(227, 119, 194), // cedar-json
    RGBColor(148, 103, 189), // regorus
    RGBColor(140, 140, 140), // ward-interp
    RGBColor(31, 119, 180),  // ward-jit-prepared
    RGBColor(44, 160, 44),   // ward-jit-typed
    RGBColor(255, 127, 14),  // ward-jit-json
];

fn color(variant: &str) -> RGBColor {
    VARIANTS.iter().position(|(v, _)| *v == variant).and_then(|k| COLORS.get(k).copied()).unwrap_or(RGBColor(0, 0, 0))
}

/// A line: legend label, colour, points, and whether it is the faint (p99) one.
type Series = (String, RGBColor, Vec<(f64, f64)>, bool);

fn err(e: impl std::fmt::Debug) -> String {
    format!("plot: {e:?}")
}

/// Powers of ten enclosing `values` (for log axes).
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (1.0, 1e6);
    }
    (10f64.powf(lo.log10().floor()), 10f64.powf(hi.log10().ceil()))
}

/// One line per series; `points` are (x, y) with y in nanoseconds.
fn lines(path: &Path, title: &str, x_desc: &str, y_desc: &str, log_x: bool, series: &[Series]) -> Result<(), String> {
    let root = SVGBackend::new(path, (760, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (ylo, yhi) = decades(series.iter().flat_map(|s| s.2.iter().map(|p| p.1)));
    let xs = series.iter().flat_map(|s| s.2.iter().map(|p| p.0));
    let (xlo, xhi) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let (xlo, xhi) = if xlo.is_finite() { (xlo, xhi) } else { (1.0, 10.0) };
    let mut builder = ChartBuilder::on(&root);
    builder.caption(title, ("sans-serif", 20)).margin(12).x_label_area_size(42).y_label_area_size(80);
    let axes = Axes { x_desc, y_desc, ylo, yhi };
    if log_x {
        draw(&mut builder, (xlo * 0.8..xhi * 1.25).log_scale(), &axes, series)?;
    } else {
        draw(&mut builder, 0.0..xhi * 1.05, &axes, series)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// What a chart's axes show: their descriptions and the y range (log scale).
struct Axes<'a> {
    x_desc: &'a str,
    y_desc: &'a str,
    ylo: f64,
    yhi: f64,
}

/// Draws the mesh, the series (points on the solid ones) and the legend on a
/// chart whose x axis is `x` (linear or logarithmic).
fn draw<X>(
    builder: &mut ChartBuilder<'_, '_, SVGBackend<'_>>,
    x: X,
    axes: &Axes,
    series: &[Series],
) -> Result<(), String>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = builder.build_cartesian_2d(x, (axes.ylo..axes.yhi).log_scale()).map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| human_ns(*v))
        .draw()
        .map_err(err)?;
    for (name, c, pts, dashed) in series {
        let style = if *dashed { c.mix(0.45).stroke_width(1) } else { c.stroke_width(2) };
        let s = chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(err)?;
        if !*dashed {
            let c = *c;
            s.label(name.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled()))).map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Writes `peers-<app>.svg`, `scaling.svg` and `compile.svg` into `dir`.
pub fn all(r: &Results, dir: &Path) -> Result<(), String> {
    for app in App::ALL {
        let mut series = Vec::new();
        for (v, _) in VARIANTS {
            let median: Vec<(f64, f64)> =
                SIZES.iter().filter_map(|&n| r.peer(app, n, v).map(|s| (n as f64, s.median_ns))).collect();
            let p99: Vec<(f64, f64)> =
                SIZES.iter().filter_map(|&n| r.peer(app, n, v).map(|s| (n as f64, s.p99_ns))).collect();
            series.push((format!("{v} (median)"), color(v), median, false));
            series.push((format!("{v} (p99)"), color(v), p99, true));
        }
        lines(
            &dir.join(format!("peers-{}.svg", app.name())),
            &format!("{}: latency per request (median solid, p99 faint)", app.name()),
            "N (entities per type)",
            "latency (log scale)",
            false,
            &series,
        )?;
    }
    let mut counts: Vec<usize> = r.scaling.iter().map(|s| s.rules).collect();
    counts.dedup();
    let mut series = Vec::new();
    for v in ["cedar", "ward-interp", "ward-jit-prepared", "ward-jit-typed"] {
        let median: Vec<(f64, f64)> =
            counts.iter().filter_map(|&k| r.scale(k, v).map(|s| (k as f64, s.median_ns))).collect();
        let p99: Vec<(f64, f64)> = counts.iter().filter_map(|&k| r.scale(k, v).map(|s| (k as f64, s.p99_ns))).collect();
        series.push((format!("{v} (median)"), color(v), median, false));
        series.push((format!("{v} (p99)"), color(v), p99, true));
    }
    lines(
        &dir.join("scaling.svg"),
        "Latency per request vs number of rules (median solid, p99 faint)",
        "rules (log scale)",
        "latency (log scale)",
        true,
        &series,
    )?;
    let ward: Vec<(f64, f64)> = r.costs.iter().map(|c| (c.rules as f64, c.ward_compile_ms * 1e6)).collect();
    let cedar: Vec<(f64, f64)> = r.costs.iter().map(|c| (c.rules as f64, c.cedar_parse_ms * 1e6)).collect();
    lines(
        &dir.join("compile.svg"),
        "Cold compile (Ward: source to native) and Cedar parse vs rules",
        "rules (log scale)",
        "time (log scale)",
        true,
        &[
            ("ward compile".to_string(), color("ward-jit-prepared"), ward, false),
            ("cedar parse".to_string(), color("cedar"), cedar, false),
        ],
    )
}
