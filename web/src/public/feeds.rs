//! Feeds for integrators: `/feed.rss` (RSS 2.0) and `/feed.atom` (Atom 1.0) of incidents and
//! maintenance, `/calendar.ics` (iCalendar) of maintenance, each rendered once per language; and
//! `/status.json`, our own compact JSON status (English, the same in every language).
//!
//! User text (titles, messages, component names) goes through the XML writers' escaping and, in
//! the HTML of feed descriptions, through [`escape_html`] first; characters XML 1.0 does not
//! allow are dropped ([`xml_text`]), so a feed always parses.

use super::i18n::{t, t_args, Arg, Lang};
use super::model::{IncidentModel, MaintenanceModel, PageModel};
use super::{File, FileKind};
use api::engine::components::PageStatus;
use api::incidents::{Impact, IncidentStatus};
use api::maintenance::MaintenanceStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

pub const RSS_PATH: &str = "/feed.rss";
pub const ATOM_PATH: &str = "/feed.atom";
pub const ICS_PATH: &str = "/calendar.ics";
pub const STATUS_JSON_PATH: &str = "/status.json";

const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

pub fn files(model: &PageModel) -> Vec<File> {
    let mut files = Vec::new();
    for lang in Lang::ALL {
        let entries = entries(model, lang);
        files.push(
            File::new(
                RSS_PATH,
                FileKind::Feed,
                super::RSS,
                rss(model, lang, &entries),
            )
            .in_lang(lang),
        );
        files.push(
            File::new(
                ATOM_PATH,
                FileKind::Feed,
                super::ATOM,
                atom(model, lang, &entries),
            )
            .in_lang(lang),
        );
        files.push(
            File::new(ICS_PATH, FileKind::Feed, super::ICS, calendar(model, lang)).in_lang(lang),
        );
    }
    files.push(File::new(
        STATUS_JSON_PATH,
        FileKind::Data,
        super::JSON,
        status_json(model),
    ));
    files
}

// ---- text ---------------------------------------------------------------------------------

/// `s` without the characters XML 1.0 forbids (controls other than tab, newline, carriage
/// return; U+FFFE, U+FFFF).
pub fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|c| {
            matches!(c, '\t' | '\n' | '\r')
                || (!c.is_control() && *c != '\u{FFFE}' && *c != '\u{FFFF}')
        })
        .collect()
}

/// `s` as HTML text.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text as HTML paragraphs (one per line, empty lines dropped).
fn paragraphs(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("<p>{}</p>", escape_html(l)))
        .collect()
}

/// `2026-12-01 12:00 UTC`.
fn utc_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn incident_status_key(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Investigating => "incident-investigating",
        IncidentStatus::Identified => "incident-identified",
        IncidentStatus::Monitoring => "incident-monitoring",
        IncidentStatus::Resolved => "incident-resolved",
    }
}

fn maintenance_status_key(s: MaintenanceStatus) -> &'static str {
    match s {
        MaintenanceStatus::Scheduled => "maintenance-scheduled",
        MaintenanceStatus::InProgress => "maintenance-in_progress",
        MaintenanceStatus::Verifying => "maintenance-verifying",
        MaintenanceStatus::Completed => "maintenance-completed",
    }
}

fn impact_key(i: Impact) -> &'static str {
    match i {
        Impact::None => "impact-none",
        Impact::Minor => "impact-minor",
        Impact::Major => "impact-major",
        Impact::Critical => "impact-critical",
    }
}

fn page_status_name(s: Option<PageStatus>) -> &'static str {
    match s {
        None => "unknown",
        Some(PageStatus::Operational) => "operational",
        Some(PageStatus::UnderMaintenance) => "under_maintenance",
        Some(PageStatus::DegradedPerformance) => "degraded_performance",
        Some(PageStatus::PartialOutage) => "partial_outage",
        Some(PageStatus::MajorOutage) => "major_outage",
    }
}

fn arg(s: &str) -> Arg<'_> {
    Arg::Str(s)
}

// ---- the entries of both feeds ------------------------------------------------------------

/// One feed entry: an incident or a maintenance window.
struct Entry {
    /// `urn:uuid:<id>`: the Atom id, and the RSS guid of a window (whose link is the page).
    urn: String,
    title: String,
    link: String,
    /// The RSS guid is the link (a permalink) for incidents.
    permalink: bool,
    /// RSS `pubDate`, Atom `published`: when the incident started, when the window was announced.
    published: DateTime<Utc>,
    updated: DateTime<Utc>,
    /// Escaped HTML.
    html: String,
}

fn entries(model: &PageModel, lang: Lang) -> Vec<Entry> {
    let mut entries: Vec<Entry> = model
        .incidents
        .iter()
        .map(|i| incident_entry(model, lang, i))
        .chain(
            model
                .maintenances
                .iter()
                .map(|m| maintenance_entry(model, lang, m)),
        )
        .collect();
    // Newest first; ties by id so the order never depends on the model's.
    entries.sort_by(|a, b| b.published.cmp(&a.published).then(a.urn.cmp(&b.urn)));
    entries
}

fn incident_entry(model: &PageModel, lang: Lang, i: &IncidentModel) -> Entry {
    let mut html = String::new();
    let status = t(lang, incident_status_key(i.status));
    let impact = t(lang, impact_key(i.impact));
    html.push_str(&format!(
        "<p><strong>{}</strong> · {}</p>",
        escape_html(&t_args(lang, "feeds-status", &[("status", arg(&status))])),
        escape_html(&t_args(lang, "feeds-impact", &[("impact", arg(&impact))])),
    ));
    let mut times = vec![t_args(
        lang,
        "feeds-started",
        &[("at", arg(&utc_text(i.started_at)))],
    )];
    if let Some(resolved) = i.resolved_at {
        times.push(t_args(
            lang,
            "feeds-resolved",
            &[("at", arg(&utc_text(resolved)))],
        ));
    }
    html.push_str(&format!(
        "<p>{}</p>",
        times
            .iter()
            .map(|s| escape_html(s))
            .collect::<Vec<_>>()
            .join(" · ")
    ));
    if !i.components.is_empty() {
        let names: Vec<&str> = i.components.iter().map(|c| c.name.as_str()).collect();
        html.push_str(&format!(
            "<p>{}</p>",
            escape_html(&t_args(
                lang,
                "feeds-affected",
                &[("components", arg(&names.join(", ")))]
            ))
        ));
    }
    if !i.updates.is_empty() {
        html.push_str("<ul>");
        for u in &i.updates {
            html.push_str(&format!(
                "<li><strong>{}</strong> ({})<br>{}</li>",
                escape_html(&t(lang, incident_status_key(u.status))),
                escape_html(&utc_text(u.created_at)),
                escape_html(u.message.trim()).replace('\n', "<br>"),
            ));
        }
        html.push_str("</ul>");
    }
    let link = format!("{}/incidents/{}", model.url, i.id);
    Entry {
        urn: urn(i.id),
        title: i.title.clone(),
        link,
        permalink: true,
        published: i.started_at,
        updated: i.updated_at,
        html,
    }
}

fn maintenance_entry(model: &PageModel, lang: Lang, m: &MaintenanceModel) -> Entry {
    let status = t(lang, maintenance_status_key(m.status));
    let mut html = format!(
        "<p><strong>{}</strong></p><p>{}</p>",
        escape_html(&t_args(lang, "feeds-status", &[("status", arg(&status))])),
        escape_html(&window_text(lang, m)),
    );
    html.push_str(&paragraphs(&m.description));
    if !m.components.is_empty() {
        let names: Vec<&str> = m.components.iter().map(|(_, n)| n.as_str()).collect();
        html.push_str(&format!(
            "<p>{}</p>",
            escape_html(&t_args(
                lang,
                "feeds-affected",
                &[("components", arg(&names.join(", ")))]
            ))
        ));
    }
    Entry {
        urn: urn(m.id),
        title: t_args(lang, "feeds-maintenance-title", &[("title", arg(&m.title))]).into_owned(),
        link: format!("{}/", model.url),
        permalink: false,
        published: m.created_at,
        updated: m.updated_at,
        html,
    }
}

fn window_text(lang: Lang, m: &MaintenanceModel) -> String {
    t_args(
        lang,
        "feeds-window",
        &[
            ("starts", arg(&utc_text(m.starts_at))),
            ("ends", arg(&utc_text(m.ends_at))),
        ],
    )
    .into_owned()
}

fn urn(id: Uuid) -> String {
    format!("urn:uuid:{id}")
}

/// The feed's own address in `lang` (English without `?lang=`).
fn self_url(model: &PageModel, path: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("{}{path}", model.url),
        _ => format!("{}{path}?lang={}", model.url, lang.tag()),
    }
}

/// The feed's last change: its newest entry's update, else the page's generation.
fn feed_updated(model: &PageModel, entries: &[Entry]) -> DateTime<Utc> {
    entries
        .iter()
        .map(|e| e.updated)
        .max()
        .unwrap_or(model.generated_at)
}

// ---- RSS 2.0 ------------------------------------------------------------------------------

fn rss(model: &PageModel, lang: Lang, entries: &[Entry]) -> Vec<u8> {
    let page = xml_text(&model.title);
    let items = entries
        .iter()
        .map(|e| rss::Item {
            title: Some(xml_text(&e.title)),
            link: Some(e.link.clone()),
            description: Some(xml_text(&e.html)),
            guid: Some(rss::Guid {
                value: if e.permalink {
                    e.link.clone()
                } else {
                    e.urn.clone()
                },
                permalink: e.permalink,
            }),
            pub_date: Some(e.published.to_rfc2822()),
            ..Default::default()
        })
        .collect();
    let description = if model.description.trim().is_empty() {
        t_args(lang, "feeds-description", &[("page", arg(&page))]).into_owned()
    } else {
        xml_text(model.description.trim())
    };
    let channel = rss::Channel {
        title: t_args(lang, "feeds-title", &[("page", arg(&page))]).into_owned(),
        link: format!("{}/", model.url),
        description,
        language: Some(lang.tag().to_owned()),
        last_build_date: Some(feed_updated(model, entries).to_rfc2822()),
        ttl: Some("5".to_owned()),
        items,
        // `<atom:link rel="self">`, which RSS readers and validators expect, as a plain extension
        // (rss's `atom` feature would pull builder macros into the build for this one element).
        namespaces: BTreeMap::from([("atom".to_owned(), ATOM_NS.to_owned())]),
        extensions: BTreeMap::from([(
            ATOM_NS.to_owned(),
            BTreeMap::from([(
                "link".to_owned(),
                vec![rss::extension::Extension {
                    name: "atom:link".to_owned(),
                    value: None,
                    attrs: BTreeMap::from([
                        ("href".to_owned(), self_url(model, RSS_PATH, lang)),
                        ("rel".to_owned(), "self".to_owned()),
                        ("type".to_owned(), "application/rss+xml".to_owned()),
                    ]),
                    children: BTreeMap::new(),
                }],
            )]),
        )]),
        ..Default::default()
    };
    channel
        .write_to(Vec::new())
        .expect("writing to memory does not fail")
}

// ---- Atom 1.0 -----------------------------------------------------------------------------

fn atom(model: &PageModel, lang: Lang, entries: &[Entry]) -> Vec<u8> {
    use atom_syndication::{Content, Entry as AtomEntry, Feed, Link, Person, Text};
    let page = xml_text(&model.title);
    let fixed = |at: DateTime<Utc>| at.fixed_offset();
    let feed = Feed {
        title: Text::plain(t_args(lang, "feeds-title", &[("page", arg(&page))])),
        id: self_url(model, ATOM_PATH, lang),
        updated: fixed(feed_updated(model, entries)),
        authors: vec![Person {
            name: page.clone(),
            uri: Some(format!("{}/", model.url)),
            ..Default::default()
        }],
        links: vec![
            Link {
                href: self_url(model, ATOM_PATH, lang),
                rel: "self".to_owned(),
                mime_type: Some("application/atom+xml".to_owned()),
                ..Default::default()
            },
            Link {
                href: format!("{}/", model.url),
                rel: "alternate".to_owned(),
                mime_type: Some("text/html".to_owned()),
                ..Default::default()
            },
        ],
        subtitle: (!model.description.trim().is_empty())
            .then(|| Text::plain(xml_text(model.description.trim()))),
        icon: model.branding.favicon_url.clone(),
        logo: model.branding.logo_url.clone(),
        lang: Some(lang.tag().to_owned()),
        entries: entries
            .iter()
            .map(|e| AtomEntry {
                title: Text::plain(xml_text(&e.title)),
                id: e.urn.clone(),
                updated: fixed(e.updated),
                published: Some(fixed(e.published)),
                links: vec![Link {
                    href: e.link.clone(),
                    rel: "alternate".to_owned(),
                    mime_type: Some("text/html".to_owned()),
                    ..Default::default()
                }],
                content: Some(Content {
                    value: Some(xml_text(&e.html)),
                    content_type: Some("html".to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    feed.write_to(Vec::new())
        .expect("writing to memory does not fail")
}

// ---- iCalendar ----------------------------------------------------------------------------

fn calendar(model: &PageModel, lang: Lang) -> Vec<u8> {
    use icalendar::{Calendar, Component, EventLike, EventStatus, Property};
    // A calendar keeps line breaks in text but no carriage returns or other controls.
    let text = |s: &str| -> String {
        s.replace("\r\n", "\n")
            .chars()
            .filter(|c| *c == '\n' || !c.is_control())
            .collect()
    };
    let page = text(&model.title);
    let host = model
        .hosts
        .first()
        .cloned()
        .unwrap_or_else(|| model.slug.clone());
    let mut cal = Calendar::empty();
    cal.append_property(Property::new("VERSION", "2.0"));
    cal.append_property(Property::new(
        "PRODID",
        "-//statuspage//public status site//EN",
    ));
    cal.append_property(Property::new("CALSCALE", "GREGORIAN"));
    cal.append_property(Property::new("METHOD", "PUBLISH"));
    let name = t_args(lang, "feeds-calendar-name", &[("page", arg(&page))]);
    cal.name(&name);
    cal.description(&t_args(
        lang,
        "feeds-calendar-description",
        &[("page", arg(&page))],
    ));
    // How often subscribers should fetch it again (RFC 7986, and Outlook's own property).
    let mut refresh = Property::new("REFRESH-INTERVAL", "PT1H");
    refresh.add_parameter("VALUE", "DURATION");
    cal.append_property(refresh);
    cal.append_property(Property::new("X-PUBLISHED-TTL", "PT1H"));
    for m in &model.maintenances {
        let mut description = String::new();
        let status = t(lang, maintenance_status_key(m.status));
        description.push_str(&t_args(lang, "feeds-status", &[("status", arg(&status))]));
        if !m.description.trim().is_empty() {
            description.push_str("\n\n");
            description.push_str(&text(m.description.trim()));
        }
        if !m.components.is_empty() {
            let names: Vec<String> = m.components.iter().map(|(_, n)| text(n)).collect();
            description.push_str("\n\n");
            description.push_str(&t_args(
                lang,
                "feeds-affected",
                &[("components", arg(&names.join(", ")))],
            ));
        }
        let event = icalendar::Event::new()
            .uid(&format!("{}@{host}", m.id))
            // The time this version of the event was written: its last change, so the calendar's
            // bytes stay the same until something changes.
            .timestamp(m.updated_at)
            .starts(m.starts_at)
            .ends(m.ends_at)
            .summary(&text(&m.title))
            .description(&description)
            .url(&format!("{}/", model.url))
            .status(EventStatus::Confirmed)
            .created(m.created_at)
            .last_modified(m.updated_at)
            .done();
        cal.push(event);
    }
    cal.to_string().into_bytes()
}

// ---- /status.json -------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct StatusJson {
    pub page: StatusPageJson,
    pub groups: Vec<GroupJson>,
    /// Unresolved, newest first.
    pub incidents: Vec<IncidentJson>,
    /// Not ended yet, soonest first.
    pub maintenance: Vec<MaintenanceJson>,
}

#[derive(Debug, Serialize)]
pub struct StatusPageJson {
    pub title: String,
    pub url: String,
    /// `operational`, `under_maintenance`, `degraded_performance`, `partial_outage`,
    /// `major_outage` or `unknown`.
    pub status: &'static str,
    /// The banner's words, in English.
    pub status_text: String,
    /// When the figures were gathered.
    pub updated_at: DateTime<Utc>,
    /// The figures are missing or old: the databases did not answer.
    pub stale: bool,
}

#[derive(Debug, Serialize)]
pub struct GroupJson {
    /// `null` for the components outside any group.
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub status: PageStatus,
    pub components: Vec<ComponentJson>,
}

#[derive(Debug, Serialize)]
pub struct ComponentJson {
    pub id: Uuid,
    pub name: String,
    pub status: PageStatus,
    /// Percent per window (`24h`, `7d`, `30d`, `90d`); `null` without figures.
    pub uptime: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, Serialize)]
pub struct IncidentJson {
    pub id: Uuid,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub last_update: Option<UpdateJson>,
}

#[derive(Debug, Serialize)]
pub struct UpdateJson {
    pub status: IncidentStatus,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct MaintenanceJson {
    pub id: Uuid,
    pub title: String,
    pub status: MaintenanceStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

fn status_json(model: &PageModel) -> Vec<u8> {
    let status = page_status_name(model.status);
    let doc = StatusJson {
        page: StatusPageJson {
            title: model.title.clone(),
            url: model.url.clone(),
            status,
            status_text: t(Lang::En, &format!("banner-{status}")).into_owned(),
            updated_at: model.generated_at,
            stale: model.stale,
        },
        groups: model
            .groups
            .iter()
            .map(|g| GroupJson {
                id: g.id,
                name: g.name.clone(),
                status: g.status,
                components: g
                    .components
                    .iter()
                    .map(|c| ComponentJson {
                        id: c.id,
                        name: c.name.clone(),
                        status: c.status,
                        uptime: c
                            .uptime
                            .iter()
                            .map(|u| (u.window.clone(), u.percent))
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        incidents: model
            .incidents
            .iter()
            .filter(|i| i.status != IncidentStatus::Resolved)
            .map(|i| IncidentJson {
                id: i.id,
                title: i.title.clone(),
                status: i.status,
                impact: i.impact,
                url: format!("{}/incidents/{}", model.url, i.id),
                started_at: i.started_at,
                last_update: i.updates.first().map(|u| UpdateJson {
                    status: u.status,
                    message: u.message.clone(),
                    at: u.created_at,
                }),
            })
            .collect(),
        maintenance: model
            .maintenances
            .iter()
            .filter(|m| m.status != MaintenanceStatus::Completed)
            .map(|m| MaintenanceJson {
                id: m.id,
                title: m.title.clone(),
                status: m.status,
                starts_at: m.starts_at,
                ends_at: m.ends_at,
            })
            .collect(),
    };
    serde_json::to_vec(&doc).expect("our document serializes")
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use chrono::Duration;
    use icalendar::{Component as _, DatePerhapsTime};

    fn file<'a>(files: &'a [File], path: &str, lang: Option<Lang>) -> &'a File {
        let matching: Vec<&File> = files
            .iter()
            .filter(|f| f.path == path && f.lang == lang)
            .collect();
        assert_eq!(matching.len(), 1, "one file at {path} in {lang:?}");
        matching[0]
    }

    fn feed(files: &[File], path: &str, lang: Lang) -> feed_rs::model::Feed {
        let f = file(files, path, Some(lang));
        feed_rs::parser::parse(&f.body[..]).unwrap_or_else(|e| {
            panic!(
                "{path} ({lang:?}) does not parse: {e}\n{}",
                String::from_utf8_lossy(&f.body)
            )
        })
    }

    /// (title, link, published) of every entry the model should give, newest first.
    fn expected_entries(model: &PageModel, lang: Lang) -> Vec<(String, String, DateTime<Utc>)> {
        let mut expected: Vec<(String, String, DateTime<Utc>)> = model
            .incidents
            .iter()
            .map(|i| {
                (
                    i.title.clone(),
                    format!("{}/incidents/{}", model.url, i.id),
                    i.started_at,
                )
            })
            .chain(model.maintenances.iter().map(|m| {
                let prefix = match lang {
                    Lang::En => "Maintenance: ",
                    Lang::De => "Wartung: ",
                };
                (
                    format!("{prefix}{}", m.title),
                    format!("{}/", model.url),
                    m.created_at,
                )
            }))
            .collect();
        expected.sort_by_key(|e| std::cmp::Reverse(e.2));
        expected
    }

    fn text(t: &Option<feed_rs::model::Text>) -> &str {
        t.as_ref().map(|t| t.content.as_str()).unwrap_or_default()
    }

    #[test]
    fn files_per_language_and_status_json_once() {
        let model = fixture::page(false);
        let files = files(&model);
        for lang in Lang::ALL {
            assert_eq!(
                file(&files, RSS_PATH, Some(lang)).content_type,
                super::super::RSS
            );
            assert_eq!(
                file(&files, ATOM_PATH, Some(lang)).content_type,
                super::super::ATOM
            );
            assert_eq!(
                file(&files, ICS_PATH, Some(lang)).content_type,
                super::super::ICS
            );
        }
        let status = file(&files, STATUS_JSON_PATH, None);
        assert_eq!(
            (status.kind, status.content_type),
            (FileKind::Data, super::super::JSON)
        );
        assert_eq!(files.len(), 3 * Lang::ALL.len() + 1);
        assert!(files
            .iter()
            .filter(|f| f.path != STATUS_JSON_PATH)
            .all(|f| f.kind == FileKind::Feed && f.variant.is_empty()));
        // Pure: the same model, the same bytes; a new gathering of the same state changes no
        // feed (so their ETags hold).
        assert_eq!(files, super::files(&model));
        let mut later = model.clone();
        later.generated_at += Duration::seconds(30);
        let later = super::files(&later);
        for f in files.iter().filter(|f| f.path != STATUS_JSON_PATH) {
            assert!(
                later.contains(f),
                "{} ({:?}) did not change",
                f.path,
                f.lang
            );
        }
    }

    #[test]
    fn rss_is_read_by_a_real_parser() {
        let model = fixture::page(true);
        let files = files(&model);
        for lang in Lang::ALL {
            let feed = feed(&files, RSS_PATH, lang);
            assert_eq!(feed.feed_type, feed_rs::model::FeedType::RSS2);
            assert_eq!(
                text(&feed.title),
                match lang {
                    Lang::En => "Acme status: incidents and maintenance",
                    Lang::De => "Acme status: Störungen und Wartungen",
                }
            );
            assert_eq!(feed.language.as_deref(), Some(lang.tag()));
            assert!(feed
                .links
                .iter()
                .any(|l| l.href == "https://acme.status.example/"));
            let expected = expected_entries(&model, lang);
            assert_eq!(feed.entries.len(), 6, "three incidents and three windows");
            let got: Vec<(String, String, DateTime<Utc>)> = feed
                .entries
                .iter()
                .map(|e| {
                    (
                        text(&e.title).to_owned(),
                        e.links[0].href.clone(),
                        e.published.expect("pubDate"),
                    )
                })
                .collect();
            assert_eq!(got, expected);
            // Incidents' guids are their permalinks; windows' a URN.
            let open = &feed.entries[0];
            assert_eq!(text(&open.title), "Elevated API errors");
            assert_eq!(open.id, open.links[0].href);
            let billing = feed
                .entries
                .iter()
                .find(|e| text(&e.title).ends_with("Billing database upgrade"))
                .unwrap();
            assert_eq!(billing.id, format!("urn:uuid:{}", model.maintenances[0].id));
            let summary = text(&billing.summary);
            assert!(summary.contains("2026-12-01 11:45 UTC"), "{summary}");
            assert!(summary.contains("2026-12-01 12:45 UTC"), "{summary}");
            assert!(summary.contains("Billing"), "{summary}");
            let raw = String::from_utf8(file(&files, RSS_PATH, Some(lang)).body.clone()).unwrap();
            let self_link = match lang {
                Lang::En => "https://acme.status.example/feed.rss",
                Lang::De => "https://acme.status.example/feed.rss?lang=de",
            };
            assert!(
                raw.contains(&format!(
                    r#"<atom:link href="{self_link}" rel="self" type="application/rss+xml">"#
                )),
                "{raw}"
            );
            assert!(raw.contains(r#"xmlns:atom="http://www.w3.org/2005/Atom""#));
        }
        let de = feed(&files, RSS_PATH, Lang::De);
        let resolved = de
            .entries
            .iter()
            .find(|e| text(&e.title) == "Database failover")
            .unwrap();
        assert!(
            text(&resolved.summary).contains("Behoben"),
            "{:?}",
            resolved.summary
        );
    }

    #[test]
    fn atom_is_read_by_a_real_parser() {
        let model = fixture::page(false);
        let files = files(&model);
        for lang in Lang::ALL {
            let feed = feed(&files, ATOM_PATH, lang);
            assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
            assert_eq!(
                text(&feed.title),
                match lang {
                    Lang::En => "Acme status: incidents and maintenance",
                    Lang::De => "Acme status: Störungen und Wartungen",
                }
            );
            let self_link = feed
                .links
                .iter()
                .find(|l| l.rel.as_deref() == Some("self"))
                .expect("a self link");
            assert_eq!(feed.id, self_link.href);
            assert!(self_link
                .href
                .starts_with("https://acme.status.example/feed.atom"));
            // The feed's updated: its newest change.
            let newest = model
                .incidents
                .iter()
                .map(|i| i.updated_at)
                .chain(model.maintenances.iter().map(|m| m.updated_at))
                .max();
            assert_eq!(feed.updated, newest);
            assert_eq!(feed.entries.len(), 6);
            let got: Vec<(String, String, DateTime<Utc>)> = feed
                .entries
                .iter()
                .map(|e| {
                    (
                        text(&e.title).to_owned(),
                        e.links[0].href.clone(),
                        e.published.expect("published"),
                    )
                })
                .collect();
            assert_eq!(got, expected_entries(&model, lang));
            for (e, i) in feed
                .entries
                .iter()
                .filter(|e| e.links[0].href.contains("/incidents/"))
                .zip(&model.incidents)
            {
                assert_eq!(e.id, format!("urn:uuid:{}", i.id));
                assert_eq!(e.updated, Some(i.updated_at));
                let body = e.content.as_ref().and_then(|c| c.body.clone()).unwrap();
                for u in &i.updates {
                    assert!(body.contains(&utc_text(u.created_at)), "{body}");
                }
            }
        }
    }

    #[test]
    fn user_text_stays_text_in_the_xml() {
        let mut model = fixture::page(false);
        model.title = "Acme <&> \"status\"".into();
        model.incidents[0].title = "<script>alert('t')</script> & <b>bold</b>\u{1}".into();
        model.incidents[0].updates[0].message = "a < b && c > d ]]> <![CDATA[ x".into();
        model.maintenances[0].title = "Window <i>&amp;</i>".into();
        model.maintenances[0].components[0].1 = "DB <&>".into();
        let files = files(&model);
        for lang in Lang::ALL {
            for path in [RSS_PATH, ATOM_PATH] {
                let raw = String::from_utf8(file(&files, path, Some(lang)).body.clone()).unwrap();
                assert!(!raw.contains("<script>"), "{path}: {raw}");
                assert!(!raw.contains("<b>bold"), "{path}: {raw}");
                assert!(!raw.contains('\u{1}'), "{path}: XML 1.0 forbids U+0001");
                let feed = feed(&files, path, lang);
                assert!(
                    text(&feed.title).starts_with("Acme <&> \"status\""),
                    "{path}: {:?}",
                    feed.title
                );
                let open = feed
                    .entries
                    .iter()
                    .find(|e| {
                        e.links[0]
                            .href
                            .ends_with(&model.incidents[0].id.to_string())
                    })
                    .unwrap();
                assert_eq!(
                    text(&open.title),
                    "<script>alert('t')</script> & <b>bold</b>",
                    "{path}: the title is the text, unchanged"
                );
                // The description / content is HTML in which the message is escaped text.
                let html = match path {
                    RSS_PATH => text(&open.summary).to_owned(),
                    _ => open.content.as_ref().and_then(|c| c.body.clone()).unwrap(),
                };
                assert!(
                    html.contains("a &lt; b &amp;&amp; c &gt; d ]]&gt; &lt;![CDATA[ x"),
                    "{path}: {html}"
                );
                let window = feed
                    .entries
                    .iter()
                    .find(|e| text(&e.title).contains("Window"))
                    .unwrap();
                assert!(text(&window.title).ends_with("Window <i>&amp;</i>"));
            }
        }
    }

    #[test]
    fn the_calendar_is_read_by_a_real_parser() {
        let mut model = fixture::page(false);
        model.maintenances[1].title = "Rotation, phase 1; edge\\certs".into();
        let files = files(&model);
        for lang in Lang::ALL {
            let raw = String::from_utf8(file(&files, ICS_PATH, Some(lang)).body.clone()).unwrap();
            assert!(raw.starts_with("BEGIN:VCALENDAR\r\n"), "{raw}");
            assert!(raw.contains("\r\nVERSION:2.0\r\n"));
            assert!(raw.contains("\r\nMETHOD:PUBLISH\r\n"));
            let cal: icalendar::Calendar = raw.parse().unwrap_or_else(|e| panic!("{e}\n{raw}"));
            assert_eq!(
                cal.get_name(),
                Some(match lang {
                    Lang::En => "Acme status: maintenance",
                    Lang::De => "Acme status: Wartungen",
                })
            );
            let events: Vec<&icalendar::Event> = cal.events().collect();
            assert_eq!(events.len(), model.maintenances.len());
            for (event, m) in events.iter().zip(&model.maintenances) {
                assert_eq!(
                    event.get_uid(),
                    Some(format!("{}@acme.status.example", m.id).as_str())
                );
                let utc = |d: Option<DatePerhapsTime>| match d {
                    Some(DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => t,
                    other => panic!("not a UTC date-time: {other:?}"),
                };
                assert_eq!(utc(event.get_start()), m.starts_at);
                assert_eq!(utc(event.get_end()), m.ends_at);
                assert_eq!(event.get_timestamp(), Some(m.updated_at));
                assert_eq!(event.get_last_modified(), Some(m.updated_at));
                assert_eq!(event.get_created(), Some(m.created_at));
                assert_eq!(event.get_status(), Some(icalendar::EventStatus::Confirmed));
                assert_eq!(event.get_url(), Some("https://acme.status.example/"));
                let description = event.get_description().unwrap_or_default();
                for (_, name) in &m.components {
                    assert!(description.contains(name.as_str()), "{description}");
                }
            }
            // Text is escaped as iCalendar wants, and the parser reads it back.
            assert!(
                raw.contains(r"SUMMARY:Rotation\, phase 1\; edge\\certs"),
                "{raw}"
            );
            assert_eq!(
                events[1].get_summary(),
                Some("Rotation, phase 1; edge\\certs")
            );
            assert_eq!(events[0].get_summary(), Some("Billing database upgrade"));
            assert!(raw.contains("\r\nDTSTART:20261201T114500Z\r\n"), "{raw}");
            assert!(raw.contains("\r\nDTEND:20261201T124500Z\r\n"), "{raw}");
            // Lines are folded at 75 octets.
            assert!(raw.split("\r\n").all(|l| l.len() <= 75), "{raw}");
        }
    }

    #[test]
    fn status_json_is_compact_and_complete() {
        let model = fixture::page(false);
        let files = files(&model);
        let v: serde_json::Value =
            serde_json::from_slice(&file(&files, STATUS_JSON_PATH, None).body).unwrap();
        assert_eq!(v["page"]["title"], "Acme status");
        assert_eq!(v["page"]["url"], "https://acme.status.example");
        assert_eq!(v["page"]["status"], "partial_outage");
        assert_eq!(v["page"]["status_text"], "Partial outage");
        assert_eq!(v["page"]["updated_at"], "2026-12-01T12:00:00Z");
        assert_eq!(v["page"]["stale"], false);
        let groups = v["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0]["name"], "Core services");
        assert_eq!(groups[2]["name"], serde_json::Value::Null);
        let api = &groups[0]["components"][0];
        assert_eq!(api["name"], "API");
        assert_eq!(api["status"], "partial_outage");
        assert_eq!(api["uptime"]["30d"], 99.912);
        assert_eq!(api["uptime"]["24h"], 100.0);
        assert_eq!(api["uptime"]["90d"], serde_json::Value::Null);
        let incidents = v["incidents"].as_array().unwrap();
        assert_eq!(incidents.len(), 1, "only unresolved incidents");
        assert_eq!(incidents[0]["title"], "Elevated API errors");
        assert_eq!(incidents[0]["status"], "identified");
        assert_eq!(incidents[0]["impact"], "major");
        assert_eq!(
            incidents[0]["url"],
            format!(
                "https://acme.status.example/incidents/{}",
                model.incidents[0].id
            )
        );
        assert_eq!(incidents[0]["started_at"], "2026-12-01T11:30:00Z");
        assert_eq!(incidents[0]["last_update"]["status"], "investigating");
        let maintenance = v["maintenance"].as_array().unwrap();
        let titles: Vec<&str> = maintenance
            .iter()
            .map(|m| m["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            ["Billing database upgrade", "Edge certificate rotation"],
            "not ended yet, soonest first"
        );
        assert_eq!(maintenance[0]["status"], "in_progress");
        assert_eq!(maintenance[0]["starts_at"], "2026-12-01T11:45:00Z");

        let mut stale = model.clone();
        stale.stale = true;
        stale.status = None;
        let v: serde_json::Value =
            serde_json::from_slice(&file(&super::files(&stale), STATUS_JSON_PATH, None).body)
                .unwrap();
        assert_eq!(v["page"]["stale"], true);
        assert_eq!(v["page"]["status"], "unknown");
        assert_eq!(v["page"]["status_text"], "Status not known yet");
    }

    #[test]
    fn an_empty_page_still_gives_valid_feeds() {
        let mut model = fixture::page(false);
        model.incidents.clear();
        model.maintenances.clear();
        model.description.clear();
        let files = files(&model);
        for lang in Lang::ALL {
            for path in [RSS_PATH, ATOM_PATH] {
                let feed = feed(&files, path, lang);
                assert!(feed.entries.is_empty());
            }
            let raw = String::from_utf8(file(&files, ICS_PATH, Some(lang)).body.clone()).unwrap();
            let cal: icalendar::Calendar = raw.parse().unwrap();
            assert_eq!(cal.events().count(), 0);
        }
        let atom = feed(&files, ATOM_PATH, Lang::En);
        assert_eq!(atom.updated, Some(model.generated_at));
    }
}
