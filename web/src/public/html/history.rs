//! The incident history by month and the permalink page of each incident.

use super::fmt::{self, snake};
use super::home::{affected_text, impact_label, incident_status_label, time_range, timeline};
use super::layout::{self, Which};
use super::Ctx;
use crate::public::model::{IncidentModel, MaintenanceModel, HISTORY_MONTHS};
use api::maintenance::MaintenanceStatus;
use chrono::Datelike;
use maud::{html, Markup};
use std::collections::BTreeMap;

/// `(year, month)` of a month, comparable.
type Month = (i32, u32);

fn previous((year, month): Month) -> Month {
    if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

fn month_of(at: chrono::DateTime<chrono::Utc>) -> Month {
    (at.year(), at.month())
}

/// One month of the history: its incidents and its completed maintenance, newest first.
#[derive(Default)]
struct MonthItems<'a> {
    incidents: Vec<&'a IncidentModel>,
    maintenances: Vec<&'a MaintenanceModel>,
}

/// The months the history shows, newest first: the model's [`HISTORY_MONTHS`] months up to the
/// month it was gathered in, and any older month an (unresolved) incident started in.
/// Maintenance shows once completed, in the month it started (the page shows the rest).
fn months<'a>(cx: &Ctx<'a>) -> Vec<(Month, MonthItems<'a>)> {
    let now = cx.model.generated_at;
    let mut by_month: BTreeMap<Month, MonthItems<'a>> = BTreeMap::new();
    let mut month = (now.year(), now.month());
    for _ in 0..HISTORY_MONTHS {
        by_month.entry(month).or_default();
        month = previous(month);
    }
    let oldest = month;
    for incident in &cx.model.incidents {
        by_month
            .entry(month_of(incident.started_at))
            .or_default()
            .incidents
            .push(incident);
    }
    for m in &cx.model.maintenances {
        let month = month_of(m.starts_at);
        if m.status == MaintenanceStatus::Completed && month > oldest {
            by_month.entry(month).or_default().maintenances.push(m);
        }
    }
    let mut months: Vec<_> = by_month.into_iter().collect();
    months.reverse();
    for (_, items) in &mut months {
        items
            .incidents
            .sort_by_key(|i| std::cmp::Reverse(i.started_at));
        items
            .maintenances
            .sort_by_key(|m| std::cmp::Reverse(m.starts_at));
    }
    months
}

fn month_heading(cx: &Ctx<'_>, (year, month): Month) -> String {
    let name = cx.t(&format!("page-month-{month}"));
    cx.t_args(
        "page-month-heading",
        &[("month", &name), ("year", &year.to_string())],
    )
    .into_owned()
}

fn started_resolved(cx: &Ctx<'_>, incident: &IncidentModel) -> Markup {
    match incident.resolved_at {
        Some(resolved) => time_range(cx, &fmt::time(incident.started_at), &fmt::time(resolved)),
        None => fmt::t_markup(
            cx.lang,
            "page-incident-since",
            "time",
            &fmt::time(incident.started_at),
        ),
    }
}

/// `/history`.
pub fn history(cx: &Ctx<'_>) -> String {
    let title = cx.t("page-history-title");
    let main = html! {
        h1 { (title) }
        p.intro { (cx.t("page-history-intro")) }
        @for (month, items) in months(cx) {
            @let key = format!("{:04}-{:02}", month.0, month.1);
            section.month data-month=(key) aria-labelledby={ "month-" (key) } {
                h2 #{ "month-" (key) } { (month_heading(cx, month)) }
                @if items.incidents.is_empty() && items.maintenances.is_empty() {
                    p.empty { (cx.t("page-history-empty-month")) }
                }
                @for incident in items.incidents {
                    article.incident data-incident=(incident.id) data-status=(snake(&incident.status))
                        data-impact=(snake(&incident.impact)) {
                        h3 { a href={ "/incidents/" (incident.id) } { (incident.title) } }
                        p.incident-meta {
                            span.incident-status { (incident_status_label(cx, incident.status)) }
                            " · "
                            span.impact { (impact_label(cx, incident.impact)) }
                            " · "
                            span.when { (started_resolved(cx, incident)) }
                        }
                        @if !incident.components.is_empty() {
                            p.affected { (cx.t_args("page-affects", &[("components", &affected_text(cx, incident))])) }
                        }
                    }
                }
                @for m in items.maintenances {
                    article.maintenance data-maintenance=(m.id) data-status=(snake(&m.status)) {
                        h3 { (m.title) }
                        p.maintenance-meta {
                            span.maintenance-status { (cx.t("maintenance-completed")) }
                            " · "
                            span.when { (time_range(cx, &fmt::time(m.starts_at), &fmt::time(m.ends_at))) }
                        }
                        @if !m.components.is_empty() {
                            @let names = m.components.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ");
                            p.affected { (cx.t_args("page-affects", &[("components", &names)])) }
                        }
                    }
                }
            }
        }
    };
    let head_title = cx.t_args("page-title-history", &[("title", &cx.model.title)]);
    layout::document(cx, Which::History, &head_title, main)
}

/// `/incidents/<id>`.
pub fn incident(cx: &Ctx<'_>, incident: &IncidentModel) -> String {
    let main = html! {
        article.incident.incident-page data-incident=(incident.id) data-status=(snake(&incident.status))
            data-impact=(snake(&incident.impact)) {
            h1 { (incident.title) }
            dl.facts {
                div {
                    dt { (cx.t("page-incident-status")) }
                    dd.incident-status { (incident_status_label(cx, incident.status)) }
                }
                div {
                    dt { (cx.t("page-incident-impact")) }
                    dd.impact { (cx.t(&format!("impact-{}", snake(&incident.impact)))) }
                }
                div {
                    dt { (cx.t("page-incident-started")) }
                    dd.started { (fmt::time(incident.started_at)) }
                }
                div {
                    dt { (cx.t("page-incident-resolved")) }
                    dd.resolved {
                        @match incident.resolved_at {
                            Some(at) => (fmt::time(at)),
                            None => (cx.t("page-incident-not-resolved")),
                        }
                    }
                }
                div {
                    dt { (cx.t("page-incident-components")) }
                    dd.affected {
                        @if incident.components.is_empty() {
                            (cx.t("page-incident-no-components"))
                        } @else {
                            ul {
                                @for c in &incident.components {
                                    li data-component=(c.name) data-status=(snake(&c.status)) {
                                        (cx.t_args("page-affected-component", &[
                                            ("name", &c.name),
                                            ("status", &cx.t(&format!("status-{}", snake(&c.status)))),
                                        ]))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { (cx.t("page-incident-updates")) }
            (timeline(cx, incident))
        }
        p.back-links {
            a.back href="/" { (cx.t("page-back")) }
            " · "
            a href="/history" { (cx.t("page-all-incidents")) }
        }
    };
    let head_title = cx.t_args(
        "page-title-incident",
        &[("incident", &incident.title), ("title", &cx.model.title)],
    );
    layout::document(cx, Which::Incident, &head_title, main)
}
