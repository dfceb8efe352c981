//! The status page: banner, stale notice, active incidents, maintenance, components in their
//! groups (status, 90-day bars, uptime, response-time charts, phases, regions), subscribe form.

use super::fmt::{self, snake};
use super::layout::{self, Which};
use super::Ctx;
use crate::public::charts;
use crate::public::model::{
    ComponentModel, DayModel, GroupModel, IncidentModel, MaintenanceModel, PhaseModel,
    CHART_PERIODS,
};
use api::engine::components::PageStatus;
use api::incidents::{Impact, IncidentStatus};
use api::maintenance::MaintenanceStatus;
use chrono::Duration;
use maud::{html, Markup};
use std::collections::HashMap;

/// The bars' days.
pub const BAR_DAYS: i64 = 90;
const DAY_STATUSES: [&str; 4] = ["no_data", "up", "degraded", "down"];

/// The status page with the response-time charts of `period` (`24h`, `7d`, `30d`).
pub fn page(cx: &Ctx<'_>, period: &str) -> String {
    let model = cx.model;
    let main = html! {
        (banner(cx))
        (stale_notice(cx))
        (incidents(cx))
        (maintenances(cx))
        (components(cx, period))
        (metrics(cx))
        (subscribe(cx))
    };
    layout::document(cx, Which::Home, &model.title, main)
}

pub fn status_label(cx: &Ctx<'_>, status: PageStatus) -> String {
    cx.t(&format!("status-{}", snake(&status))).into_owned()
}

pub fn incident_status_label(cx: &Ctx<'_>, status: IncidentStatus) -> String {
    cx.t(&format!("incident-{}", snake(&status))).into_owned()
}

pub fn impact_label(cx: &Ctx<'_>, impact: Impact) -> String {
    let name = cx.t(&format!("impact-{}", snake(&impact))).into_owned();
    if impact == Impact::None {
        name
    } else {
        cx.t_args("page-impact", &[("impact", &name)]).into_owned()
    }
}

fn maintenance_status_label(cx: &Ctx<'_>, status: MaintenanceStatus) -> String {
    cx.t(&format!("maintenance-{}", snake(&status)))
        .into_owned()
}

fn banner(cx: &Ctx<'_>) -> Markup {
    let status = cx
        .model
        .status
        .map_or_else(|| "unknown".to_owned(), |s| snake(&s));
    html! {
        section.banner data-status=(status) {
            h2.banner-text { (cx.t(&format!("banner-{status}"))) }
        }
    }
}

fn stale_notice(cx: &Ctx<'_>) -> Markup {
    html! {
        @if cx.model.stale {
            p.stale-notice role="status" {
                (fmt::t_markup(cx.lang, "page-stale", "time", &fmt::time(cx.model.generated_at)))
            }
        }
    }
}

/// "API (Partial outage), Web (Major outage)".
pub fn affected_text(cx: &Ctx<'_>, incident: &IncidentModel) -> String {
    incident
        .components
        .iter()
        .map(|c| {
            let status = cx.t(&format!("status-{}", snake(&c.status)));
            cx.t_args(
                "page-affected-component",
                &[("name", &c.name), ("status", &status)],
            )
            .into_owned()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An incident's updates, newest first.
pub fn timeline(cx: &Ctx<'_>, incident: &IncidentModel) -> Markup {
    html! {
        ol.timeline {
            @for update in &incident.updates {
                li data-status=(snake(&update.status)) {
                    p.update-head {
                        strong.update-status { (incident_status_label(cx, update.status)) }
                        " "
                        (fmt::time(update.created_at))
                    }
                    div.update-message { (fmt::paragraphs(&update.message, None)) }
                }
            }
        }
    }
}

fn incidents(cx: &Ctx<'_>) -> Markup {
    let active: Vec<&IncidentModel> = cx
        .model
        .incidents
        .iter()
        .filter(|i| i.status != IncidentStatus::Resolved)
        .collect();
    html! {
        @if !active.is_empty() {
            section.incidents aria-labelledby="incidents-title" {
                h2 #incidents-title { (cx.t("page-incidents-title")) }
                @for incident in active {
                    article.incident data-incident=(incident.id) data-status=(snake(&incident.status))
                        data-impact=(snake(&incident.impact)) {
                        h3 { a href={ "/incidents/" (incident.id) } { (incident.title) } }
                        p.incident-meta {
                            span.incident-status { (incident_status_label(cx, incident.status)) }
                            " · "
                            span.impact { (impact_label(cx, incident.impact)) }
                            " · "
                            span.since { (fmt::t_markup(cx.lang, "page-incident-since", "time", &fmt::time(incident.started_at))) }
                        }
                        @if !incident.components.is_empty() {
                            p.affected { (cx.t_args("page-affects", &[("components", &affected_text(cx, incident))])) }
                        }
                        (timeline(cx, incident))
                    }
                }
            }
        }
    }
}

fn maintenances(cx: &Ctx<'_>) -> Markup {
    let open: Vec<&MaintenanceModel> = cx
        .model
        .maintenances
        .iter()
        .filter(|m| m.status != MaintenanceStatus::Completed)
        .collect();
    html! {
        @if !open.is_empty() {
            section.maintenances aria-labelledby="maintenances-title" {
                h2 #maintenances-title { (cx.t("page-maintenance-title")) }
                @for m in open {
                    article.maintenance data-maintenance=(m.id) data-status=(snake(&m.status)) {
                        h3 { (m.title) }
                        p.maintenance-meta {
                            span.maintenance-status { (maintenance_status_label(cx, m.status)) }
                            " · "
                            (time_range(cx, &fmt::time(m.starts_at), &fmt::time(m.ends_at)))
                        }
                        @if !m.components.is_empty() {
                            @let names = m.components.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ");
                            p.affected { (cx.t_args("page-affects", &[("components", &names)])) }
                        }
                        (fmt::paragraphs(&m.description, Some("maintenance-description")))
                    }
                }
            }
        }
    }
}

/// The tenant's custom metrics: each one's latest value and the last 24 hours as a small line
/// (its range in words for screen readers), with when it was read.
fn metrics(cx: &Ctx<'_>) -> Markup {
    let metrics = &cx.model.metrics;
    html! {
        @if !metrics.is_empty() {
            section.metrics aria-labelledby="metrics-title" {
                h2 #metrics-title { (cx.t("page-metrics-title")) }
                ul.metric-list {
                    @for m in metrics {
                        @let decimals = usize::try_from(m.decimals).unwrap_or(2);
                        @let figure = |v: f64| {
                            let n = fmt::number(cx.lang, v, decimals);
                            if m.unit.is_empty() { n } else { format!("{n} {}", m.unit) }
                        };
                        li.metric data-metric=(m.name) {
                            span.metric-name { (m.name) }
                            strong.metric-value {
                                @match m.value {
                                    Some(v) => (figure(v)),
                                    None => (cx.t("page-metric-no-data")),
                                }
                            }
                            (sparkline(cx, m, &figure))
                            @if let Some(at) = m.fetched_at {
                                small.metric-time { (fmt::t_markup(cx.lang, "page-metric-as-of", "time", &fmt::time(at))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A 120×32 line of the series, scaled to its own range.
fn sparkline(
    cx: &Ctx<'_>,
    m: &api::custom_metrics::PublicMetric,
    figure: &dyn Fn(f64) -> String,
) -> Markup {
    const W: f64 = 120.0;
    const H: f64 = 32.0;
    let (Some(first), Some(last)) = (m.series.first(), m.series.last()) else {
        return html! {};
    };
    let (min, max) = m
        .series
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let span_t = (last.0 - first.0).max(1) as f64;
    let span_v = if max > min { max - min } else { 1.0 };
    let points: Vec<String> = m
        .series
        .iter()
        .map(|(t, v)| {
            let x = (*t - first.0) as f64 / span_t * W;
            let y = H - 2.0 - (v - min) / span_v * (H - 4.0);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let label = cx.t_args(
        "page-metric-chart",
        &[
            ("name", m.name.as_str()),
            ("min", figure(min).as_str()),
            ("max", figure(max).as_str()),
        ],
    );
    html! {
        svg.sparkline viewBox={ "0 0 " (W) " " (H) } width=(W) height=(H) role="img" aria-label=(label) {
            title { (label) }
            polyline fill="none" stroke="currentColor" stroke-width="1.5" points=(points.join(" ")) {}
        }
    }
}

/// "<start> to <end>" with both as markup.
pub fn time_range(cx: &Ctx<'_>, start: &Markup, end: &Markup) -> Markup {
    fmt::t_markups(
        cx.lang,
        "page-time-range",
        &[("start", start), ("end", end)],
    )
}

fn components(cx: &Ctx<'_>, period: &str) -> Markup {
    let model = cx.model;
    html! {
        section.components aria-labelledby="components-title" {
            h2 #components-title { (cx.t("page-components-title")) }
            nav.periods aria-label=(cx.t("page-periods-label")) {
                span.periods-intro { (cx.t("page-periods-intro")) }
                ul {
                    @for (p, _) in CHART_PERIODS {
                        li {
                            a href={ "?period=" (p) } aria-current=[(p == period).then_some("page")] {
                                (cx.t(&format!("window-{p}")))
                            }
                        }
                    }
                }
            }
            @if model.groups.iter().all(|g| g.components.is_empty()) {
                p.empty { (cx.t("page-no-components")) }
            }
            @for group in model.groups.iter().filter(|g| !g.components.is_empty()) {
                (group_markup(cx, group, period))
            }
        }
    }
}

fn group_markup(cx: &Ctx<'_>, group: &GroupModel, period: &str) -> Markup {
    let inner = html! {
        @for component in &group.components {
            (component_markup(cx, component, period))
        }
    };
    html! {
        @if let Some(name) = &group.name {
            details.group data-group=(name) data-status=(snake(&group.status)) open {
                summary {
                    span.group-name { (name) }
                    " "
                    span.group-status { (status_label(cx, group.status)) }
                }
                div.group-components { (inner) }
            }
        } @else {
            div.group.ungrouped { (inner) }
        }
    }
}

fn component_markup(cx: &Ctx<'_>, c: &ComponentModel, period: &str) -> Markup {
    let model = cx.model;
    let window = model.uptime_window.as_str();
    let uptime = c
        .uptime
        .iter()
        .find(|u| u.window == window)
        .and_then(|u| u.percent);
    let window_label = cx.t(&format!("window-{window}"));
    html! {
        article.component data-component=(c.name) data-status=(snake(&c.status)) {
            div.component-head {
                h3.component-name { (c.name) }
                span.component-status { (status_label(cx, c.status)) }
            }
            @if !c.description.trim().is_empty() {
                p.component-description { (c.description) }
            }
            p.component-uptime {
                span.uptime data-window=(window) { (fmt::percent(cx.lang, uptime)) }
                " "
                span.uptime-window { (cx.t_args("page-uptime-window", &[("window", &window_label)])) }
            }
            (bars(cx, c))
            @if !c.dependencies.is_empty() {
                (dependencies(cx, c))
            }
            @if c.p50_24h_ms.is_some() || c.p95_24h_ms.is_some() {
                p.latency {
                    (cx.t_args("page-latency-24h", &[
                        ("p50", &fmt::ms(cx.lang, c.p50_24h_ms)),
                        ("p95", &fmt::ms(cx.lang, c.p95_24h_ms)),
                    ]))
                }
            }
            (charts_markup(cx, c, period))
            (phases(cx, &c.name, &c.phases))
            @if model.show_region_detail && !c.regions.is_empty() {
                (regions(cx, c))
            }
        }
    }
}

/// The dependencies the component's health documents name: a list of sub-components, each
/// with its status (in words, not only colour) and its own timing.
fn dependencies(cx: &Ctx<'_>, c: &ComponentModel) -> Markup {
    html! {
        ul.dependencies aria-label=(cx.t_args("page-dependencies-label", &[("component", &c.name)])) {
            @for d in &c.dependencies {
                li.dependency data-dependency=(d.name) data-status=(d.status) {
                    span.dependency-name { (d.name) }
                    " "
                    span.dependency-status { (cx.t(&format!("page-dependency-{}", d.status))) }
                    @if let Some(ms) = d.duration_ms {
                        " · "
                        span.dependency-time { (fmt::ms(cx.lang, Some(ms))) }
                    }
                }
            }
        }
    }
}

/// Exactly [`BAR_DAYS`] days ending with the component's last day (today without figures):
/// days without figures are `no_data`.
fn ninety_days(cx: &Ctx<'_>, c: &ComponentModel) -> Vec<DayModel> {
    let last = c
        .days
        .last()
        .map_or_else(|| cx.model.generated_at.date_naive(), |d| d.day);
    let by_day: HashMap<_, _> = c.days.iter().map(|d| (d.day, d)).collect();
    (0..BAR_DAYS)
        .map(|i| {
            let day = last - Duration::days(BAR_DAYS - 1 - i);
            by_day.get(&day).map_or_else(
                || DayModel {
                    day,
                    status: "no_data".into(),
                    uptime: None,
                    incidents: Vec::new(),
                    maintenances: Vec::new(),
                },
                |d| (*d).clone(),
            )
        })
        .collect()
}

fn bars(cx: &Ctx<'_>, c: &ComponentModel) -> Markup {
    let days = ninety_days(cx, c);
    html! {
        div.bars-box {
            ol.bars aria-label=(cx.t_args("page-bars-label", &[("name", &c.name)])) {
                @for d in &days {
                    @let status = if DAY_STATUSES.contains(&d.status.as_str()) { d.status.as_str() } else { "no_data" };
                    li.bar data-day=(d.day.format("%Y-%m-%d")) data-status=(status) tabindex="0" {
                        span.bar-detail {
                            span.bar-date { (fmt::day(d.day)) }
                            " "
                            span.bar-state { (cx.t(&format!("page-day-{status}"))) }
                            @if let Some(uptime) = d.uptime {
                                " "
                                span.bar-uptime {
                                    (cx.t_args("uptime-percent", &[("percent", &fmt::uptime_number(cx.lang, uptime))]))
                                }
                            }
                            @for (_, title) in &d.incidents {
                                " "
                                span.bar-incident { (cx.t_args("page-day-incident", &[("title", title)])) }
                            }
                            @for (_, title) in &d.maintenances {
                                " "
                                span.bar-maintenance { (cx.t_args("page-day-maintenance", &[("title", title)])) }
                            }
                        }
                    }
                }
            }
            p.bars-legend aria-hidden="true" {
                span { (cx.t("page-bars-start")) }
                span { (cx.t("page-bars-end")) }
            }
        }
    }
}

fn charts_markup(cx: &Ctx<'_>, c: &ComponentModel, period: &str) -> Markup {
    let chart = c.charts.iter().find(|ch| ch.period == period);
    let period_label = cx.t(&format!("window-{period}"));
    html! {
        @match chart.filter(|ch| !ch.series.is_empty()) {
            Some(chart) => {
                div.charts {
                    @for series in &chart.series {
                        @let caption = match &series.region {
                            Some(region) => cx.t_args("page-chart-caption-region", &[("period", &period_label), ("region", region)]),
                            None => cx.t_args("page-chart-caption-all", &[("period", &period_label)]),
                        };
                        figure.chart data-period=(period) data-region=(series.region.as_deref().unwrap_or("all")) {
                            (charts::chart(chart, series, cx.lang))
                            figcaption { (caption) }
                        }
                    }
                }
            },
            None => p.no-chart data-period=(period) { (cx.t("page-no-chart")) },
        }
    }
}

fn phases(cx: &Ctx<'_>, name: &str, rows: &[PhaseModel]) -> Markup {
    let Some(first) = rows.first() else {
        return html! {};
    };
    let names: Vec<&str> = first.phases.iter().map(|(n, _, _)| n.as_str()).collect();
    html! {
        details.phases {
            summary { (cx.t("page-phases-summary")) }
            div.table-scroll tabindex="0" role="region" aria-label=(cx.t_args("page-table-label", &[("name", name), ("table", &cx.t("page-phases-summary"))])) {
                table {
                    caption { (cx.t("page-phases-caption")) }
                    thead {
                        tr {
                            th scope="col" { (cx.t("page-phases-region")) }
                            th scope="col" { (cx.t("page-phases-samples")) }
                            @for name in &names {
                                th scope="col" { (cx.t(&format!("page-phase-{name}"))) }
                            }
                        }
                    }
                    tbody {
                        @for row in rows {
                            tr data-region=(row.region.as_deref().unwrap_or("all")) {
                                th scope="row" {
                                    @match &row.region {
                                        Some(region) => (region),
                                        None => (cx.t("page-region-all")),
                                    }
                                }
                                td { (row.samples) }
                                @for name in &names {
                                    @let cell = row.phases.iter().find(|(n, _, _)| n == name);
                                    td {
                                        @match cell {
                                            Some((_, p50, p95)) => (cx.t_args("page-phase-cell", &[
                                                ("p50", &fmt::ms(cx.lang, Some(*p50))),
                                                ("p95", &fmt::ms(cx.lang, Some(*p95))),
                                            ])),
                                            None => (cx.t("no-data")),
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn regions(cx: &Ctx<'_>, c: &ComponentModel) -> Markup {
    html! {
        div.table-scroll tabindex="0" role="region" aria-label=(cx.t_args("page-table-label", &[("name", &c.name), ("table", &cx.t("page-regions-caption"))])) {
            table.regions {
                caption { (cx.t("page-regions-caption")) }
                thead {
                    tr {
                        th scope="col" { (cx.t("page-regions-region")) }
                        th scope="col" { (cx.t("page-regions-status")) }
                        th scope="col" { (cx.t("page-regions-last")) }
                        th scope="col" { (cx.t("page-regions-percentiles")) }
                        th scope="col" { (cx.t("page-regions-problem")) }
                        th scope="col" { (cx.t("page-regions-checked")) }
                    }
                }
                tbody {
                    @for r in &c.regions {
                        tr data-region=(r.region) data-status=(snake(&r.status)) {
                            th scope="row" { (r.region) }
                            td { span.region-status { (status_label(cx, r.status)) } }
                            td { (fmt::ms(cx.lang, r.last_total_ms)) }
                            td { (fmt::ms(cx.lang, r.p50_24h_ms)) " / " (fmt::ms(cx.lang, r.p95_24h_ms)) }
                            td {
                                @match &r.failure {
                                    Some(failure) => (failure),
                                    None => (cx.t("page-regions-no-problem")),
                                }
                            }
                            td {
                                @match r.last_checked_at {
                                    Some(at) => (fmt::time(at)),
                                    None => (cx.t("no-data")),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn subscribe(cx: &Ctx<'_>) -> Markup {
    let components: Vec<&ComponentModel> = cx.model.components().collect();
    html! {
        section.subscribe-section aria-labelledby="subscribe-title" {
            h2 #subscribe-title { (cx.t("page-subscribe-title")) }
            p { (cx.t("page-subscribe-intro")) }
            // The fields of the existing handler (web/src/server/subscribe.rs): `kind`,
            // `target` and repeated `component`.
            form.subscribe method="post" action="/_status-page/subscribe" {
                input type="hidden" name="kind" value="email";
                div.field {
                    label for="subscribe-email" { (cx.t("page-subscribe-email")) }
                    input #subscribe-email type="email" name="target" required maxlength="254"
                        autocomplete="email";
                }
                @if !components.is_empty() {
                    details.subscribe-components {
                        summary { (cx.t("page-subscribe-components")) }
                        fieldset {
                            legend { (cx.t("page-subscribe-components-legend")) }
                            ul {
                                @for c in &components {
                                    li {
                                        label {
                                            input type="checkbox" name="component" value=(c.id);
                                            " " (c.name)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                button.button type="submit" { (cx.t("page-subscribe-button")) }
            }
            p.subscribe-other { a href="/_status-page/subscribe" { (cx.t("page-subscribe-other")) } }
        }
    }
}
