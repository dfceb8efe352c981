//! The document around every page: head (styles, script, favicon), header (logo, title,
//! description, language switch, theme toggle), footer (feeds, data, updated time).

use super::fmt;
use super::Ctx;
use maud::{html, Markup, DOCTYPE};

/// Which page a document is: decides where the one `<h1>` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The status page: the header's title is the `<h1>`.
    Home,
    /// The history: its `<main>` holds the `<h1>`.
    History,
    /// An incident's page: its `<main>` holds the `<h1>`.
    Incident,
}

/// A complete HTML document.
pub fn document(cx: &Ctx<'_>, which: Which, head_title: &str, main: Markup) -> String {
    let model = cx.model;
    let summary = model.description.lines().find(|l| !l.trim().is_empty());
    html! {
        (DOCTYPE)
        html lang=(cx.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (head_title) }
                @if let Some(summary) = summary {
                    meta name="description" content=(summary.trim());
                }
                @if let Some(favicon) = safe_url(model.branding.favicon_url.as_deref()) {
                    link rel="icon" href=(favicon);
                }
                link rel="stylesheet" href="/_assets/page.css";
                link rel="stylesheet" href="/_assets/theme.css";
                link rel="alternate" type="application/rss+xml" href="/feed.rss" title=(cx.t("page-footer-rss"));
                link rel="alternate" type="application/atom+xml" href="/feed.atom" title=(cx.t("page-footer-atom"));
                // Not deferred: it applies a stored theme before the first paint, then waits
                // for the document for everything else.
                script src="/_assets/page.js" {}
            }
            body {
                a.skip-link href="#main" { (cx.t("page-skip")) }
                (header(cx, which))
                main #main tabindex="-1" { (main) }
                (footer(cx))
            }
        }
    }
    .into_string()
}

/// Only `https://` (and, for local pages, `http://`) URLs become links and images.
pub fn safe_url(url: Option<&str>) -> Option<&str> {
    url.map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

fn header(cx: &Ctx<'_>, which: Which) -> Markup {
    let model = cx.model;
    let logo = safe_url(model.branding.logo_url.as_deref()).map(|src| {
        html! {
            img.logo src=(src) alt=(cx.t_args("page-logo-alt", &[("title", &model.title)]));
        }
    });
    html! {
        header.site-header {
            div.header-bar {
                div.brand {
                    @if let Some(logo) = &logo { (logo) }
                    @match which {
                        Which::Home => h1.site-title { (model.title) },
                        Which::History | Which::Incident => p.site-title { a href="/" { (model.title) } },
                    }
                }
                div.header-tools {
                    nav.languages aria-label=(cx.t("page-nav-languages")) {
                        ul {
                            @for lang in super::Lang::ALL {
                                li {
                                    a href={ "?lang=" (lang.tag()) } hreflang=(lang.tag()) lang=(lang.tag())
                                        aria-current=[(lang == cx.lang).then_some("true")] {
                                        (lang.native_name())
                                    }
                                }
                            }
                        }
                    }
                    button #theme-toggle type="button" aria-pressed="false" hidden {
                        (cx.t("page-theme-toggle"))
                    }
                }
            }
            @if which == Which::Home {
                div.description { (fmt::paragraphs(&model.description, None)) }
            }
            nav.site-nav aria-label=(cx.t("page-nav-site")) {
                ul {
                    li { a href="/" aria-current=[(which == Which::Home).then_some("page")] { (cx.t("page-nav-status")) } }
                    li { a href="/history" aria-current=[(which == Which::History).then_some("page")] { (cx.t("page-nav-history")) } }
                }
            }
        }
    }
}

fn footer(cx: &Ctx<'_>) -> Markup {
    let links = [
        ("/feed.rss", "page-footer-rss"),
        ("/feed.atom", "page-footer-atom"),
        ("/calendar.ics", "page-footer-calendar"),
        ("/status.json", "page-footer-json"),
        ("/api/v2/summary.json", "page-footer-api"),
        ("/widget", "page-footer-widget"),
        ("/badge.svg", "page-footer-badge"),
    ];
    let updated = html! { time.updated datetime=(fmt::iso(cx.model.generated_at)) {
        (cx.model.generated_at.format("%Y-%m-%d %H:%M UTC"))
    } };
    html! {
        footer.site-footer {
            nav aria-label=(cx.t("page-footer-label")) {
                ul.footer-links {
                    @for (href, key) in links {
                        li { a href=(href) { (cx.t(key)) } }
                    }
                }
            }
            p.updated-line { (fmt::t_markup(cx.lang, "page-updated", "time", &updated)) }
        }
    }
}
