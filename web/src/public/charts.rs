//! Server-rendered SVG response-time charts: p50 and p95 of one series over a chart's period,
//! readable without JavaScript and by screen readers.
//!
//! One inline `<svg role="img">` per series (the caller wraps it in its `<figure class="chart">`):
//! a `<title>` and a `<desc>` that say in words what the chart shows (period, region, median,
//! worst p95 and when, how many buckets have no data), a legend, y gridlines at round values in
//! ms (or s), x labels in UTC (hours for 24 h, days for 7 d and 30 d), and one `<path>` per
//! line whose subpaths break where buckets are missing (never drawn across a gap). No `style`
//! attributes: CSS classes (`chart-p50`, `chart-p95`, `chart-grid`, `chart-axis`,
//! `chart-label`, `chart-legend`) for the page's stylesheet, and presentation attributes as
//! defaults that look right without it (text and axes in `currentColor`; the line colours have
//! at least 3:1 contrast on white and on dark backgrounds, and p95 is dashed as well, so the two
//! lines differ without colour). Deterministic: the same input gives the same bytes.

use super::i18n::{t, t_args, Arg, Lang};
use super::model::{ChartModel, ChartPoint, ChartSeries};
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use maud::{html, Markup};

/// The chart's coordinate system (the SVG scales to its container through the viewBox).
const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 26.0;
const FONT_PX: f64 = 12.0;
/// The empty chart is shorter: just its sentence.
const EMPTY_HEIGHT: f64 = 60.0;

/// Default line colours (the page CSS may override them through the classes): at least 3:1
/// against white and against dark backgrounds down to `#111827` / `#1f2937` (tested).
pub const P50_COLOR: &str = "#3a70d8";
pub const P95_COLOR: &str = "#c75200";

/// The chart of one series (all regions together, or one region) as inline SVG markup.
pub fn chart(chart: &ChartModel, series: &ChartSeries, lang: Lang) -> Markup {
    let title = chart_title(chart, series, lang);
    let points: Vec<ChartPoint> = series
        .points
        .iter()
        .copied()
        .filter(|p| {
            p.p50_ms.is_finite() && p.p95_ms.is_finite() && p.p50_ms >= 0.0 && p.p95_ms >= 0.0
        })
        .collect();
    if points.is_empty() {
        let empty = t(lang, "charts-no-data");
        let range = range_text(chart, lang);
        return html! {
            svg xmlns="http://www.w3.org/2000/svg" class="chart-svg chart-empty"
                viewBox=(format!("0 0 {WIDTH} {EMPTY_HEIGHT}")) role="img"
                font-family="system-ui, sans-serif" font-size=(FONT_PX) {
                title { (title) }
                desc { (range) " " (empty) }
                text class="chart-label" x=(WIDTH / 2.0) y=(EMPTY_HEIGHT / 2.0 + 4.0)
                    text-anchor="middle" fill="currentColor" { (empty) }
            }
        };
    }

    let span = (chart.until - chart.since).num_seconds().max(1) as f64;
    let bucket = chart.bucket_secs.max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bottom = HEIGHT - BOTTOM;
    let x_of = |at: DateTime<Utc>| {
        let secs = (at - chart.since).num_seconds() as f64;
        LEFT + (secs / span).clamp(0.0, 1.0) * plot_w
    };
    let max = points
        .iter()
        .map(|p| p.p95_ms.max(p.p50_ms))
        .fold(0.0_f64, f64::max);
    let scale = YScale::new(max, lang);
    let y_of = |ms: f64| bottom - (ms / scale.top).clamp(0.0, 1.0) * plot_h;

    // Points sit in the middle of their bucket; a missing bucket (or more) breaks the line.
    let half = Duration::seconds(bucket / 2);
    let mut segments: Vec<Vec<ChartPoint>> = Vec::new();
    let mut previous: Option<DateTime<Utc>> = None;
    for point in &points {
        let gap = previous.is_none_or(|prev| (point.at - prev).num_seconds() * 2 > bucket * 3);
        if gap {
            segments.push(Vec::new());
        }
        if let Some(segment) = segments.last_mut() {
            segment.push(*point);
        }
        previous = Some(point.at);
    }
    let path = |value: fn(&ChartPoint) -> f64| {
        let mut d = String::new();
        for segment in &segments {
            for (i, p) in segment.iter().enumerate() {
                let cmd = if i == 0 { 'M' } else { 'L' };
                if !d.is_empty() {
                    d.push(' ');
                }
                d.push_str(&format!(
                    "{cmd}{:.1} {:.1}",
                    x_of(p.at + half),
                    y_of(value(p))
                ));
            }
            if segment.len() == 1 {
                // A lone bucket between gaps: a zero-length line, drawn as a dot by its round cap.
                d.push_str(" h0");
            }
        }
        d
    };
    let d50 = path(|p| p.p50_ms);
    let d95 = path(|p| p.p95_ms);
    let x_ticks = x_ticks(chart, lang);
    let desc = summary(chart, &points, lang);
    let legend_p50 = t(lang, "charts-legend-p50");
    let legend_p95 = t(lang, "charts-legend-p95");
    let p95_x = LEFT + 30.0 + super::badges::text_width(&legend_p50, FONT_PX) + 18.0;
    let utc = t(lang, "charts-utc");

    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="chart-svg"
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            font-family="system-ui, sans-serif" font-size=(FONT_PX) {
            title { (title) }
            desc { (desc) }
            g class="chart-grid" stroke="currentColor" stroke-opacity="0.18" stroke-width="1"
                shape-rendering="crispEdges" {
                @for (value, _) in &scale.ticks {
                    @let y = fmt1(y_of(*value));
                    line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
                }
            }
            g class="chart-axis" stroke="currentColor" stroke-width="1" shape-rendering="crispEdges" {
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(bottom) y2=(bottom) {}
                @for (x, _) in &x_ticks {
                    @let x = fmt1(*x);
                    line x1=(x) x2=(x) y1=(bottom) y2=(bottom + 4.0) {}
                }
            }
            g class="chart-label" fill="currentColor" {
                @for (value, label) in &scale.ticks {
                    text x=(LEFT - 6.0) y=(fmt1(y_of(*value) + 4.0)) text-anchor="end" { (label) }
                }
                @for (x, label) in &x_ticks {
                    text x=(fmt1(*x)) y=(bottom + 17.0) text-anchor="middle" { (label) }
                }
            }
            g class="chart-legend" fill="currentColor" {
                line class="chart-p50" x1=(LEFT) x2=(LEFT + 24.0) y1="12" y2="12"
                    stroke=(P50_COLOR) stroke-width="2" stroke-linecap="round" {}
                text x=(LEFT + 30.0) y="16" { (legend_p50) }
                line class="chart-p95" x1=(fmt1(p95_x)) x2=(fmt1(p95_x + 24.0)) y1="12" y2="12"
                    stroke=(P95_COLOR) stroke-width="2" stroke-dasharray="6 3" stroke-linecap="round" {}
                text x=(fmt1(p95_x + 30.0)) y="16" { (legend_p95) }
                text x=(WIDTH - RIGHT) y="16" text-anchor="end" { (utc) }
            }
            path class="chart-p95" d=(d95) fill="none" stroke=(P95_COLOR) stroke-width="2"
                stroke-dasharray="6 3" stroke-linejoin="round" stroke-linecap="round"
                vector-effect="non-scaling-stroke" {}
            path class="chart-p50" d=(d50) fill="none" stroke=(P50_COLOR) stroke-width="2"
                stroke-linejoin="round" stroke-linecap="round" vector-effect="non-scaling-stroke" {}
        }
    }
}

/// "Response time over the last 24 hours: all regions".
fn chart_title(chart: &ChartModel, series: &ChartSeries, lang: Lang) -> String {
    let period = t(lang, &format!("window-{}", chart.period));
    let scope = match &series.region {
        None => t(lang, "charts-scope-all").into_owned(),
        Some(region) => {
            t_args(lang, "charts-scope-region", &[("region", Arg::Str(region))]).into_owned()
        }
    };
    t_args(
        lang,
        "charts-title",
        &[("period", Arg::Str(&period)), ("scope", Arg::Str(&scope))],
    )
    .into_owned()
}

fn range_text(chart: &ChartModel, lang: Lang) -> String {
    t_args(
        lang,
        "charts-range",
        &[
            ("since", Arg::Str(&utc_text(chart.since))),
            ("until", Arg::Str(&utc_text(chart.until))),
        ],
    )
    .into_owned()
}

/// The chart in words: period, median of the p50s, the worst p95 and when, missing buckets.
fn summary(chart: &ChartModel, points: &[ChartPoint], lang: Lang) -> String {
    let mut p50s: Vec<f64> = points.iter().map(|p| p.p50_ms).collect();
    p50s.sort_by(f64::total_cmp);
    let n = p50s.len();
    let median = if n % 2 == 1 {
        p50s[n / 2]
    } else {
        (p50s[n / 2 - 1] + p50s[n / 2]) / 2.0
    };
    // The first of equal worst values, so the text is stable.
    let worst = points
        .iter()
        .fold(None::<&ChartPoint>, |best, p| match best {
            Some(b) if b.p95_ms >= p.p95_ms => Some(b),
            _ => Some(p),
        })
        .copied()
        .unwrap_or(points[0]);
    let total = ((chart.until - chart.since).num_seconds() / chart.bucket_secs.max(1)).max(1);
    let covered = (n as i64).min(total);
    let values = t_args(
        lang,
        "charts-summary",
        &[
            ("p50", Arg::Str(&ms_text(median, lang))),
            ("p95", Arg::Str(&ms_text(worst.p95_ms, lang))),
            ("at", Arg::Str(&utc_text(worst.at))),
        ],
    );
    let coverage = t_args(
        lang,
        "charts-coverage",
        &[
            ("missing", Arg::Num((total - covered) as f64)),
            ("total", Arg::Num(total as f64)),
        ],
    );
    format!("{} {values} {coverage}", range_text(chart, lang))
}

/// `2026-12-01 12:00 UTC`.
fn utc_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `82 ms`, `4.5 ms` (`4,5 ms` in German).
fn ms_text(ms: f64, lang: Lang) -> String {
    if ms < 10.0 {
        format!("{} ms", number((ms * 10.0).round() / 10.0, 1, lang))
    } else {
        format!("{} ms", number(ms.round(), 0, lang))
    }
}

/// A number with at most `decimals` decimals (trailing zeros dropped) and the language's
/// decimal separator.
pub(crate) fn number(value: f64, decimals: usize, lang: Lang) -> String {
    let mut s = format!("{value:.decimals$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    match lang {
        Lang::En => s,
        Lang::De => s.replace('.', ","),
    }
}

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// The y axis: from 0 to a round top, 3 to 5 round steps, labelled in ms (s from 1 s up).
struct YScale {
    top: f64,
    ticks: Vec<(f64, String)>,
}

impl YScale {
    fn new(max_ms: f64, lang: Lang) -> Self {
        let max = if max_ms.is_finite() && max_ms > 0.0 {
            max_ms
        } else {
            1.0
        };
        let step = nice_step(max / 4.0);
        let count = (max / step).ceil().max(1.0) as usize;
        let top = step * count as f64;
        let in_seconds = top >= 1000.0;
        let ticks = (0..=count)
            .map(|i| {
                let value = step * i as f64;
                let label = if in_seconds {
                    format!("{} s", number(value / 1000.0, 3, lang))
                } else {
                    format!("{} ms", number(value, 3, lang))
                };
                (value, label)
            })
            .collect();
        Self { top, ticks }
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Labelled x positions: whole UTC hours for periods up to two days, UTC midnights beyond; at
/// most 7 intervals.
fn x_ticks(chart: &ChartModel, lang: Lang) -> Vec<(f64, String)> {
    let span_secs = (chart.until - chart.since).num_seconds().max(1);
    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;
    let steps = [
        HOUR,
        2 * HOUR,
        3 * HOUR,
        4 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        5 * DAY,
        7 * DAY,
        14 * DAY,
        30 * DAY,
    ];
    let step = steps
        .into_iter()
        .find(|s| span_secs / s <= 7)
        .unwrap_or(30 * DAY);
    let hourly = span_secs <= 2 * DAY && step < DAY;
    let plot_w = WIDTH - LEFT - RIGHT;
    let first = if hourly {
        // The first whole hour at or after `since` that is a multiple of the step in its day.
        let mut at = ceil_to(chart.since, HOUR);
        while (at.hour() as i64 * HOUR) % step != 0 {
            at += Duration::seconds(HOUR);
        }
        at
    } else {
        ceil_to(chart.since, DAY)
    };
    let mut ticks = Vec::new();
    let mut at = first;
    while at <= chart.until && ticks.len() < 32 {
        let x = LEFT + (at - chart.since).num_seconds() as f64 / span_secs as f64 * plot_w;
        let label = if hourly {
            at.format("%H:%M").to_string()
        } else {
            date_label(at, lang)
        };
        ticks.push((x, label));
        at += Duration::seconds(step);
    }
    ticks
}

/// The first multiple of `unit` seconds (from the epoch, in UTC) at or after `at`.
fn ceil_to(at: DateTime<Utc>, unit: i64) -> DateTime<Utc> {
    let secs = at.timestamp();
    let rounded = secs.div_euclid(unit) * unit;
    let rounded = if rounded < secs {
        rounded + unit
    } else {
        rounded
    };
    Utc.timestamp_opt(rounded, 0).single().unwrap_or(at)
}

/// `Dec 2` / `2. Dez.`.
fn date_label(at: DateTime<Utc>, lang: Lang) -> String {
    let month = t(lang, &format!("charts-month-{}", at.month()));
    t_args(
        lang,
        "charts-date",
        &[
            ("month", Arg::Str(&month)),
            ("day", Arg::Str(&at.day().to_string())),
        ],
    )
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public::badges::contrast;
    use crate::public::fixture;

    fn sample(period: &str, regions: bool) -> ChartModel {
        let model = fixture::page(regions);
        let component = model.components().next().unwrap();
        component
            .charts
            .iter()
            .find(|c| c.period == period)
            .unwrap()
            .clone()
    }

    fn render(chart: &ChartModel, series: &ChartSeries, lang: Lang) -> String {
        super::chart(chart, series, lang).into_string()
    }

    struct Parsed {
        title: String,
        desc: String,
        /// `d` of the p50 and the p95 paths.
        p50: Vec<String>,
        p95: Vec<String>,
        texts: Vec<String>,
    }

    fn parse(svg: &str) -> Parsed {
        let doc = roxmltree::Document::parse(svg).expect("the chart is well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("role"), Some("img"));
        assert!(root.attribute("viewBox").is_some(), "scales by its viewBox");
        assert!(root.attribute("width").is_none(), "no fixed width");
        assert!(
            doc.descendants().all(|n| n.attribute("style").is_none()),
            "no style attributes"
        );
        let first = root.first_element_child().unwrap();
        assert!(first.has_tag_name("title"), "the title comes first");
        let child_text = |name: &str| {
            root.children()
                .find(|n| n.has_tag_name(name))
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_owned()
        };
        let paths = |class: &str| {
            doc.descendants()
                .filter(|n| n.has_tag_name("path") && n.attribute("class") == Some(class))
                .map(|n| n.attribute("d").unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        Parsed {
            title: child_text("title"),
            desc: child_text("desc"),
            p50: paths("chart-p50"),
            p95: paths("chart-p95"),
            texts: doc
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The subpaths of a path: lists of (x, y).
    fn subpaths(d: &str) -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut tokens = d.split_whitespace();
        while let Some(token) = tokens.next() {
            if token == "h0" {
                continue;
            }
            let (cmd, x) = token.split_at(1);
            let y: f64 = tokens.next().unwrap().parse().unwrap();
            let point = (x.parse().unwrap(), y);
            match cmd {
                "M" => out.push(vec![point]),
                "L" => out.last_mut().unwrap().push(point),
                other => panic!("unexpected command {other}"),
            }
        }
        out
    }

    #[test]
    fn a_day_of_figures_is_two_lines_with_axes_legend_and_words() {
        let chart = sample("24h", false);
        let series = &chart.series[0];
        assert_eq!(series.points.len(), 24);
        let svg = render(&chart, series, Lang::En);
        let parsed = parse(&svg);
        assert_eq!(
            parsed.title,
            "Response time over the last 24 hours: all regions"
        );
        // p50 = 80 + (i % 7) * 3: median 87.5; p95 = 160 + (i % 5) * 9: worst 196, first at
        // i = 4, the bucket of 16:00 the day before.
        assert_eq!(
            parsed.desc,
            "From 2026-11-30 12:00 UTC to 2026-12-01 12:00 UTC. Median (p50) 88 ms; worst p95 \
             196 ms at 2026-11-30 16:00 UTC. Every interval has data."
        );
        assert_eq!(parsed.p50.len(), 1, "one p50 path");
        assert_eq!(parsed.p95.len(), 1, "one p95 path");
        let p50 = subpaths(&parsed.p50[0]);
        let p95 = subpaths(&parsed.p95[0]);
        assert_eq!(
            (p50.len(), p50[0].len()),
            (1, 24),
            "one unbroken line of 24"
        );
        assert_eq!((p95.len(), p95[0].len()), (1, 24));
        // p95 lies above p50 (smaller y) at every point; x grows.
        for (a, b) in p50[0].iter().zip(&p95[0]) {
            assert_eq!(a.0, b.0);
            assert!(b.1 < a.1);
        }
        assert!(p50[0].windows(2).all(|w| w[1].0 > w[0].0));
        // Round y ticks up to 200 ms (above the worst 196), hours on the x axis, the legend.
        for label in ["0 ms", "50 ms", "100 ms", "150 ms", "200 ms"] {
            assert!(parsed.texts.iter().any(|t| t == label), "{label}");
        }
        assert!(!parsed.texts.iter().any(|t| t == "250 ms"));
        for label in ["12:00", "16:00", "20:00", "00:00", "04:00", "08:00"] {
            assert!(parsed.texts.iter().any(|t| t == label), "{label}");
        }
        for label in ["p50 (median)", "p95", "Times in UTC"] {
            assert!(parsed.texts.iter().any(|t| t == label), "{label}");
        }
        assert!(svg.contains("class=\"chart-grid\""));
        assert!(svg.contains("class=\"chart-axis\""));
        assert_eq!(svg, render(&chart, series, Lang::En), "deterministic");
    }

    #[test]
    fn gaps_break_the_lines() {
        let chart = sample("24h", false);
        let mut series = chart.series[0].clone();
        // Buckets 5..=8 and 12 missing: three runs (0-4, 9-11, 13-23).
        series.points = series
            .points
            .iter()
            .enumerate()
            .filter(|(i, _)| !(5..=8).contains(i) && *i != 12)
            .map(|(_, p)| *p)
            .collect();
        let parsed = parse(&render(&chart, &series, Lang::En));
        for d in [&parsed.p50[0], &parsed.p95[0]] {
            let runs = subpaths(d);
            let lengths: Vec<usize> = runs.iter().map(Vec::len).collect();
            assert_eq!(lengths, [5, 3, 11]);
            // No segment spans more than one bucket.
            let bucket = (WIDTH - LEFT - RIGHT) / 24.0;
            for run in &runs {
                assert!(run.windows(2).all(|w| w[1].0 - w[0].0 < bucket * 1.01));
            }
        }
        assert!(
            parsed.desc.ends_with("No data for 5 of 24 intervals."),
            "{}",
            parsed.desc
        );

        // A lone bucket between gaps is drawn as a dot (a zero-length line with round caps).
        series
            .points
            .retain(|p| p.at != chart.since + Duration::hours(10));
        let parsed = parse(&render(&chart, &series, Lang::En));
        assert!(parsed.p50[0].contains(" h0"));
        let lengths: Vec<usize> = subpaths(&parsed.p50[0]).iter().map(Vec::len).collect();
        assert_eq!(lengths, [5, 1, 1, 11]);
        assert!(parsed.desc.ends_with("No data for 6 of 24 intervals."));

        // One missing bucket at the end only: still one line, and it says so.
        let mut series = chart.series[0].clone();
        series.points.pop();
        let parsed = parse(&render(&chart, &series, Lang::En));
        assert_eq!(subpaths(&parsed.p50[0]).len(), 1);
        assert!(parsed.desc.ends_with("No data for 1 of 24 intervals."));
    }

    #[test]
    fn days_label_the_longer_periods_in_each_language() {
        let week = sample("7d", false);
        let parsed = parse(&render(&week, &week.series[0], Lang::En));
        assert_eq!(
            parsed.title,
            "Response time over the last 7 days: all regions"
        );
        for label in ["Nov 25", "Nov 28", "Dec 1"] {
            assert!(parsed.texts.iter().any(|t| t == label), "{label}");
        }
        assert_eq!(subpaths(&parsed.p50[0])[0].len(), 168);
        let parsed = parse(&render(&week, &week.series[0], Lang::De));
        assert_eq!(
            parsed.title,
            "Antwortzeit der letzten 7 Tage: alle Regionen"
        );
        for label in ["25. Nov.", "1. Dez.", "p50 (Median)", "Zeiten in UTC"] {
            assert!(parsed.texts.iter().any(|t| t == label), "{label}");
        }
        assert!(parsed.desc.contains("Median (p50)"));
        assert!(parsed.desc.contains("schlechtester p95-Wert"));

        let month = sample("30d", false);
        assert_eq!(month.bucket_secs, 86_400);
        let parsed = parse(&render(&month, &month.series[0], Lang::En));
        let dates: Vec<&String> = parsed
            .texts
            .iter()
            .filter(|t| t.starts_with("Nov ") || t.starts_with("Dec "))
            .collect();
        assert_eq!(
            dates,
            ["Nov 2", "Nov 7", "Nov 12", "Nov 17", "Nov 22", "Nov 27"]
        );
        assert_eq!(subpaths(&parsed.p95[0])[0].len(), 30);
        assert!(parsed.desc.contains("Every interval has data."));
    }

    #[test]
    fn a_region_chart_names_its_region_and_escapes_it() {
        let chart = sample("24h", true);
        assert_eq!(chart.series.len(), 3);
        let parsed = parse(&render(&chart, &chart.series[0], Lang::En));
        assert_eq!(
            parsed.title,
            "Response time over the last 24 hours: region eu-central-1"
        );
        let parsed = parse(&render(&chart, &chart.series[0], Lang::De));
        assert_eq!(
            parsed.title,
            "Antwortzeit der letzten 24 Stunden: Region eu-central-1"
        );
        let mut series = chart.series[1].clone();
        series.region = Some("x<&>\"y".into());
        let svg = render(&chart, &series, Lang::En);
        assert!(!svg.contains("x<&>"));
        assert_eq!(
            parse(&svg).title,
            "Response time over the last 24 hours: region x<&>\"y"
        );
    }

    #[test]
    fn no_figures_is_a_sentence_still_labelled() {
        let chart = sample("24h", false);
        let mut series = chart.series[0].clone();
        series.points.clear();
        let parsed = parse(&render(&chart, &series, Lang::En));
        assert_eq!(
            parsed.title,
            "Response time over the last 24 hours: all regions"
        );
        assert_eq!(parsed.texts, ["No data for this period"]);
        assert!(parsed.desc.ends_with("No data for this period"));
        assert!(parsed.p50.is_empty() && parsed.p95.is_empty());
        let parsed = parse(&render(&chart, &series, Lang::De));
        assert_eq!(parsed.texts, ["Keine Daten für diesen Zeitraum"]);
        // Points that are not numbers count as none.
        series.points = vec![ChartPoint {
            at: chart.since,
            p50_ms: f64::NAN,
            p95_ms: 1.0,
        }];
        let parsed = parse(&render(&chart, &series, Lang::En));
        assert_eq!(parsed.texts, ["No data for this period"]);
    }

    #[test]
    fn slow_figures_are_labelled_in_seconds_and_small_ones_in_fractions() {
        let chart = sample("24h", false);
        let mut series = chart.series[0].clone();
        for p in &mut series.points {
            p.p50_ms *= 8.0;
            p.p95_ms = 1800.0;
        }
        let svg = render(&chart, &series, Lang::De);
        let parsed = parse(&svg);
        for label in ["0 s", "0,5 s", "1 s", "1,5 s", "2 s"] {
            assert!(parsed.texts.iter().any(|t| t == label), "{label}");
        }
        assert!(parsed.desc.contains("1800 ms"));
        let parsed = parse(&render(&chart, &series, Lang::En));
        assert!(parsed.texts.iter().any(|t| t == "1.5 s"));

        for p in &mut series.points {
            p.p50_ms = 1.2;
            p.p95_ms = 3.7;
        }
        let parsed = parse(&render(&chart, &series, Lang::En));
        for label in ["0 ms", "1 ms", "2 ms", "3 ms", "4 ms"] {
            assert!(parsed.texts.iter().any(|t| t == label), "{label}");
        }
        assert!(parsed
            .desc
            .contains("Median (p50) 1.2 ms; worst p95 3.7 ms"));
    }

    #[test]
    fn nice_steps_are_round() {
        assert_eq!(nice_step(49.0), 50.0);
        assert_eq!(nice_step(21.0), 25.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(100.0), 100.0);
        assert_eq!(nice_step(101.0), 200.0);
        let scale = YScale::new(0.0, Lang::En);
        assert!(scale.top > 0.0);
        assert_eq!(number(2.50, 3, Lang::De), "2,5");
        assert_eq!(number(-0.0, 1, Lang::En), "0");
    }

    #[test]
    fn line_colours_contrast_on_light_and_dark() {
        for color in [P50_COLOR, P95_COLOR] {
            for background in ["#ffffff", "#111827", "#1f2937", "#000000"] {
                let ratio = contrast(color, background);
                assert!(ratio >= 3.0, "{color} on {background}: {ratio:.2}");
            }
        }
    }
}
