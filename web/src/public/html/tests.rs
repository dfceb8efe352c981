use super::assets::{contrast, parse_hex, theme_css, PAGE_CSS, PAGE_JS};
use super::*;
use crate::public::fixture;

fn body(file: &File) -> &str {
    std::str::from_utf8(&file.body).expect("utf-8")
}

fn find<'a>(files: &'a [File], path: &str, lang: Option<Lang>, variant: &str) -> &'a str {
    let file = files
        .iter()
        .find(|f| f.path == path && f.lang == lang && f.variant == variant)
        .unwrap_or_else(|| panic!("{path} {lang:?} {variant:?} is rendered"));
    body(file)
}

fn home(files: &[File], lang: Lang) -> &str {
    find(files, "/", Some(lang), "")
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn the_site_has_every_page_in_every_language_and_the_assets() {
    let model = fixture::page(false);
    let files = files(&model);
    for lang in Lang::ALL {
        for variant in ["", "period=7d", "period=30d"] {
            let file = files
                .iter()
                .find(|f| f.path == "/" && f.lang == Some(lang) && f.variant == variant)
                .expect("the page in each period");
            assert_eq!(file.kind, FileKind::Page);
            assert_eq!(file.content_type, HTML);
        }
        find(&files, "/history", Some(lang), "");
        for incident in &model.incidents {
            let page = find(
                &files,
                &format!("/incidents/{}", incident.id),
                Some(lang),
                "",
            );
            assert!(page.contains(&format!("data-incident=\"{}\"", incident.id)));
        }
    }
    let pages = files.iter().filter(|f| f.kind == FileKind::Page).count();
    assert_eq!(pages, 2 * (3 + 1 + model.incidents.len()));
    for (path, content_type) in [
        ("/_assets/page.css", super::super::CSS),
        ("/_assets/page.js", super::super::JS),
        ("/_assets/theme.css", super::super::CSS),
    ] {
        let file = files.iter().find(|f| f.path == path).expect("asset");
        assert_eq!(file.kind, FileKind::Asset);
        assert_eq!(file.lang, None);
        assert_eq!(file.content_type, content_type);
    }
    assert_eq!(find(&files, "/_assets/page.js", None, ""), PAGE_JS);
    assert_eq!(find(&files, "/_assets/page.css", None, ""), PAGE_CSS);
    assert!(find(&files, "/_assets/theme.css", None, "").contains("--accent: #7b2ff7;"));
    assert_eq!(
        files,
        super::files(&model),
        "pure: the same model gives the same bytes"
    );
}

#[test]
fn the_page_has_every_section() {
    let model = fixture::page(false);
    let files = files(&model);
    let page = home(&files, Lang::En);
    for hook in [
        "<!DOCTYPE html><html lang=\"en\">",
        "<a class=\"skip-link\" href=\"#main\">",
        "<main id=\"main\"",
        "<header class=\"site-header\">",
        "<footer class=\"site-footer\">",
        "<h1 class=\"site-title\">Acme status</h1>",
        "<img class=\"logo\" src=\"https://acme.example/logo.png\" alt=\"Acme status logo\">",
        "<link rel=\"icon\" href=\"https://acme.example/favicon.png\">",
        "<link rel=\"stylesheet\" href=\"/_assets/page.css\">",
        "<link rel=\"stylesheet\" href=\"/_assets/theme.css\">",
        "<script src=\"/_assets/page.js\"></script>",
        "<p>Live status of Acme's services.</p><p>Checked every 30 seconds from three regions.</p>",
        "<nav class=\"languages\"",
        "href=\"?lang=de\"",
        "<button id=\"theme-toggle\" type=\"button\" aria-pressed=\"false\" hidden>",
        "<section class=\"banner\" data-status=\"partial_outage\"><h2 class=\"banner-text\">Partial outage</h2>",
        "<section class=\"incidents\"",
        "<ol class=\"timeline\">",
        "<section class=\"maintenances\"",
        "<details class=\"group\" data-group=\"Core services\" data-status=\"partial_outage\" open>",
        "<div class=\"group ungrouped\">",
        "<article class=\"component\" data-component=\"API\" data-status=\"partial_outage\">",
        "<span class=\"component-status\">Partial outage</span>",
        "<span class=\"uptime\" data-window=\"30d\">99.91%</span>",
        "<ol class=\"bars\"",
        "<span class=\"bar-detail\">",
        "<figure class=\"chart\" data-period=\"24h\" data-region=\"all\">",
        "<nav class=\"periods\"",
        "<a href=\"?period=24h\" aria-current=\"page\">24 hours</a>",
        "<a href=\"?period=7d\">7 days</a>",
        "<details class=\"phases\"><summary>",
        "<th scope=\"col\">Time to first byte</th>",
        "<th scope=\"row\">All regions</th>",
        "<form class=\"subscribe\" method=\"post\" action=\"/_status-page/subscribe\">",
        "<input type=\"hidden\" name=\"kind\" value=\"email\">",
        "<input id=\"subscribe-email\" type=\"email\" name=\"target\" required",
        "<input type=\"checkbox\" name=\"component\" value=\"",
        "href=\"/feed.rss\"",
        "href=\"/feed.atom\"",
        "href=\"/calendar.ics\"",
        "href=\"/status.json\"",
        "href=\"/api/v2/summary.json\"",
        "href=\"/widget\"",
        "<time class=\"updated\" datetime=\"2026-12-01T12:00:00Z\">2026-12-01 12:00 UTC</time>",
        "href=\"/history\"",
    ] {
        assert!(page.contains(hook), "the page has {hook}");
    }
    assert_eq!(count(page, "<h1"), 1, "one h1");
    assert_eq!(count(page, "<main"), 1);
    // Active incidents only, linked to their permalinks, timelines with times.
    let active = format!("data-incident=\"{}\"", model.incidents[0].id);
    assert!(page.contains(&active));
    assert!(page.contains(&format!(
        "<a href=\"/incidents/{}\">Elevated API errors</a>",
        model.incidents[0].id
    )));
    assert!(!page.contains(&format!("data-incident=\"{}\"", model.incidents[1].id)));
    assert!(page.contains("<time datetime=\"2026-12-01T11:30:00Z\">2026-12-01 11:30 UTC</time>"));
    // Maintenance in progress and upcoming, not the completed one.
    for m in &model.maintenances {
        let hook = format!("data-maintenance=\"{}\"", m.id);
        assert_eq!(
            page.contains(&hook),
            m.status != api::maintenance::MaintenanceStatus::Completed,
            "{}",
            m.title
        );
    }
    assert!(page.contains("data-status=\"in_progress\""));
    assert!(page.contains("data-status=\"scheduled\""));
    // Every component, in its group.
    for c in model.components() {
        assert!(page.contains(&format!("data-component=\"{}\"", c.name)));
    }
    assert!(
        !page.contains("stale-notice"),
        "no stale notice with live figures"
    );
    // The day details: date, uptime, incidents and maintenance that day.
    assert!(page.contains("Incident: Database failover"));
    assert!(page.contains("Maintenance: Network upgrade"));
    assert!(page.contains("97.5% uptime"));
}

#[test]
fn a_stale_model_says_since_when() {
    let mut model = fixture::page(false);
    model.stale = true;
    model.status = None;
    let files = files(&model);
    let page = home(&files, Lang::En);
    assert!(page.contains(
        "<p class=\"stale-notice\" role=\"status\">Live figures are not available right now. \
         These are the last good figures, from <time datetime=\"2026-12-01T12:00:00Z\">2026-12-01 12:00 UTC</time>.</p>"
    ));
    assert!(page.contains("<section class=\"banner\" data-status=\"unknown\">"));
    let de = home(&files, Lang::De);
    assert!(de.contains("die letzten guten Werte vom <time"));
}

#[test]
fn user_text_is_escaped_everywhere() {
    for regions in [false, true] {
        let model = fixture::page(regions);
        for file in files(&model) {
            let text = body(&file);
            assert!(!text.contains("<script>alert"), "{} escapes", file.path);
            assert!(!text.contains("<&>"), "{} escapes", file.path);
        }
        let files = files(&model);
        let page = home(&files, Lang::En);
        assert!(page.contains("data-group=\"Edge &lt;&amp;&gt; delivery\""));
        assert!(page.contains("<span class=\"group-name\">Edge &lt;&amp;&gt; delivery</span>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}

#[test]
fn no_inline_script_or_style_anywhere() {
    for regions in [false, true] {
        for file in files(&fixture::page(regions)) {
            if file.content_type != HTML {
                continue;
            }
            let text = body(&file);
            assert!(
                !text.contains(" style="),
                "{}: no style attribute",
                file.path
            );
            assert!(!text.contains("<style"), "{}: no style element", file.path);
            for (i, _) in text.match_indices("<script") {
                let tag_end = text[i..].find('>').expect("closed tag") + i;
                assert!(
                    text[i..tag_end].contains(" src=\"/_assets/"),
                    "{}: every script has a src",
                    file.path
                );
                assert!(
                    text[tag_end..].starts_with("></script>"),
                    "{}: no script content",
                    file.path
                );
            }
            assert!(
                !has_event_handler(text),
                "{}: no inline event handlers",
                file.path
            );
        }
    }
}

/// An `onclick=`-style attribute anywhere.
fn has_event_handler(text: &str) -> bool {
    text.match_indices(" on").any(|(i, _)| {
        let rest = &text[i + 3..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        !name.is_empty() && rest[name.len()..].starts_with("=\"")
    })
}

#[test]
fn every_component_has_ninety_bars_with_a_day() {
    let mut model = fixture::page(false);
    // A component without figures still shows 90 days (no data).
    model.groups[2].components[0].days.clear();
    let files = files(&model);
    let page = home(&files, Lang::En);
    let articles: Vec<&str> = page.split("<article class=\"component\"").skip(1).collect();
    assert_eq!(articles.len(), model.components().count());
    for article in &articles {
        let bars = article.split("</ol>").next().unwrap_or_default();
        assert_eq!(count(bars, "<li class=\"bar\" data-day=\""), 90);
        assert_eq!(count(bars, "tabindex=\"0\""), 90, "each bar is focusable");
        assert_eq!(count(bars, "<span class=\"bar-detail\">"), 90);
    }
    assert!(articles[0].contains("data-day=\"2026-12-01\" data-status=\"up\""));
    assert!(articles[0].contains("data-day=\"2026-09-03\" data-status=\"up\""));
    assert!(articles[0].contains("data-status=\"down\""));
    assert!(articles[0].contains("data-status=\"degraded\""));
    assert_eq!(count(articles[3], "data-status=\"no_data\""), 90);
    assert!(articles[3].contains("data-day=\"2026-12-01\" data-status=\"no_data\""));
}

#[test]
fn the_three_periods_differ_in_the_chart() {
    let model = fixture::page(false);
    let files = files(&model);
    let bodies: Vec<&str> = ["", "period=7d", "period=30d"]
        .iter()
        .map(|v| find(&files, "/", Some(Lang::En), v))
        .collect();
    for (body, period) in bodies.iter().zip(["24h", "7d", "30d"]) {
        let hook = format!("<figure class=\"chart\" data-period=\"{period}\"");
        assert_eq!(count(body, &hook), model.components().count(), "{period}");
        assert!(body.contains(&format!(
            "<a href=\"?period={period}\" aria-current=\"page\">"
        )));
        assert_eq!(
            count(body, "aria-current=\"page\""),
            2,
            "period and site nav"
        );
        for other in ["24h", "7d", "30d"].iter().filter(|p| **p != period) {
            assert!(!body.contains(&format!("data-period=\"{other}\"")));
        }
    }
    assert_ne!(bodies[0], bodies[1]);
    assert_ne!(bodies[1], bodies[2]);
    assert!(bodies[1].contains("Response time over 7 days, all regions"));
}

#[test]
fn per_region_detail_only_when_the_tenant_shows_it() {
    let files_without = files(&fixture::page(false));
    let without = home(&files_without, Lang::En);
    assert!(!without.contains("<table class=\"regions\">"));
    assert!(!without.contains("eu-central-1"));

    let model = fixture::page(true);
    let files_with = files(&model);
    let with = home(&files_with, Lang::En);
    assert_eq!(
        count(with, "<table class=\"regions\">"),
        model.components().count()
    );
    assert!(with.contains("<tr data-region=\"ap-southeast-2\" data-status=\"major_outage\">"));
    assert!(with.contains("connection refused"));
    assert!(with.contains("<th scope=\"row\">eu-central-1</th>"));
    // A chart per region.
    assert!(with.contains("<figure class=\"chart\" data-period=\"24h\" data-region=\"us-east-1\">"));
}

#[test]
fn german_files_are_german() {
    let model = fixture::page(true);
    let files = files(&model);
    let de = home(&files, Lang::De);
    for text in [
        "<html lang=\"de\">",
        "Zum Inhalt springen",
        "<h2 class=\"banner-text\">Teilausfall</h2>",
        "Aktuelle Störungen",
        "Geplante Wartungen",
        "Komponenten",
        "<span class=\"uptime\" data-window=\"30d\">99,91 %</span>",
        "Verfügbarkeit über 30 Tage",
        ">24 Stunden</a>",
        "Aufschlüsselung nach Phasen",
        "Benachrichtigungen erhalten",
        "Abonnieren",
        "Aktualisiert <time",
        "Betriebsbereit",
    ] {
        assert!(de.contains(text), "German page has {text}");
    }
    assert!(!de.contains("Skip to content"));
    assert!(!de.contains("Active incidents"));
    let history = find(&files, "/history", Some(Lang::De), "");
    assert!(history.contains("<h1>Störungsverlauf</h1>"));
    assert!(history.contains("Dezember 2026"));
    assert!(history.contains("Keine Störungen oder Wartungen in diesem Monat."));
    let incident = find(
        &files,
        &format!("/incidents/{}", model.incidents[1].id),
        Some(Lang::De),
        "",
    );
    assert!(incident.contains("Zurück zum aktuellen Status"));
    assert!(incident.contains("<dd class=\"incident-status\">Behoben</dd>"));
}

#[test]
fn history_covers_twelve_months_newest_first() {
    let model = fixture::page(false);
    let files = files(&model);
    let history = find(&files, "/history", Some(Lang::En), "");
    let months: Vec<&str> = history
        .match_indices("<section class=\"month\" data-month=\"")
        .map(|(i, m)| &history[i + m.len()..i + m.len() + 7])
        .collect();
    let expected: Vec<String> = (1..=12).rev().map(|m| format!("2026-{m:02}")).collect();
    assert_eq!(months, expected, "12 months, newest first");
    assert_eq!(count(history, "<h1"), 1);
    assert!(history.contains("<h2 id=\"month-2026-12\">December 2026</h2>"));
    let section = |month: &str| {
        let start = history
            .find(&format!("data-month=\"{month}\""))
            .expect("month");
        let end = history[start..].find("</section>").expect("end") + start;
        &history[start..end]
    };
    let [active, failover, logins] = [0, 1, 2].map(|i| &model.incidents[i]);
    assert!(section("2026-12").contains(&format!("data-incident=\"{}\"", active.id)));
    assert!(section("2026-10").contains(&format!(
        "<a href=\"/incidents/{}\">Database failover</a>",
        failover.id
    )));
    assert!(section("2026-08").contains(&format!("data-incident=\"{}\"", logins.id)));
    // Completed maintenance is history too, in the month it started; the rest is not.
    let [done, in_progress, scheduled] = [2, 0, 1].map(|i| &model.maintenances[i]);
    let november = section("2026-11");
    assert!(november.contains(&format!("data-maintenance=\"{}\"", done.id)));
    assert!(november.contains("<h3>Network upgrade</h3>"));
    assert!(
        november.contains("<p class=\"affected\">Affects: API</p>"),
        "{november}"
    );
    assert!(!november.contains("No incidents or maintenance this month."));
    for open in [in_progress, scheduled] {
        assert!(!history.contains(&format!("data-maintenance=\"{}\"", open.id)));
    }
    assert!(section("2026-09").contains("No incidents or maintenance this month."));
    assert!(!section("2026-10").contains("No incidents or maintenance this month."));
    assert_eq!(
        count(history, "No incidents or maintenance this month."),
        8,
        "every month without either says so"
    );
    // An unresolved incident older than the window still has its month.
    let mut old = fixture::page(false);
    old.incidents[0].started_at = fixture::now() - chrono::Duration::days(500);
    let files = super::files(&old);
    let history = find(&files, "/history", Some(Lang::En), "");
    assert!(history.contains("data-month=\"2025-07\""));
}

#[test]
fn incident_pages_have_the_whole_story() {
    let model = fixture::page(false);
    let files = files(&model);
    let resolved = &model.incidents[1];
    let page = find(
        &files,
        &format!("/incidents/{}", resolved.id),
        Some(Lang::En),
        "",
    );
    assert_eq!(count(page, "<h1"), 1);
    for text in [
        "<h1>Database failover</h1>",
        "<dd class=\"incident-status\">Resolved</dd>",
        "<dd class=\"impact\">Minor</dd>",
        "<li data-component=\"API\" data-status=\"partial_outage\">API (Partial outage)</li>",
        "<dd class=\"started\"><time datetime=\"2026-10-13T12:00:00Z\">2026-10-13 12:00 UTC</time></dd>",
        "<dd class=\"resolved\"><time datetime=\"2026-10-13T13:00:00Z\">",
        "Fixed &amp; verified.",
        "<a class=\"back\" href=\"/\">",
        "<title>Database failover – Acme status</title>",
        "<p class=\"site-title\"><a href=\"/\">Acme status</a></p>",
    ] {
        assert!(page.contains(text), "incident page has {text}");
    }
    assert_eq!(count(page, "<li data-status=\""), resolved.updates.len());
    let open = find(
        &files,
        &format!("/incidents/{}", model.incidents[0].id),
        Some(Lang::En),
        "",
    );
    assert!(open.contains("<dd class=\"resolved\">Not resolved yet</dd>"));
}

#[test]
fn the_accent_is_validated() {
    assert!(theme_css(Some("#7B2FF7")).contains("--accent: #7b2ff7;"));
    assert!(theme_css(Some("#7b2ff7")).contains("--accent-text: #ffffff;"));
    assert!(theme_css(Some("#ffee00")).contains("--accent-text: #000000;"));
    for bad in [
        None,
        Some("red"),
        Some("#fff"),
        Some("#12345g"),
        Some("#123456; } body { display: none"),
        Some("url(https://evil.example/x)"),
    ] {
        let css = theme_css(bad);
        assert!(css.contains("--accent: #0969da;"), "{bad:?}: {css}");
        assert!(!css.contains("evil") && !css.contains("display"));
    }
    let mut model = fixture::page(false);
    model.branding.accent_color = Some("</style><script>".into());
    let files = files(&model);
    assert!(find(&files, "/_assets/theme.css", None, "").contains("--accent: #0969da;"));
}

#[test]
fn logos_and_favicons_need_web_addresses() {
    let mut model = fixture::page(false);
    model.branding.logo_url = Some("javascript:alert(1)".into());
    model.branding.favicon_url = None;
    let files = files(&model);
    let page = home(&files, Lang::En);
    assert!(!page.contains("javascript:"));
    assert!(!page.contains("<img"));
    assert!(!page.contains("rel=\"icon\""));
}

/// The custom properties of one block of page.css (`selector {` to `}`).
fn palette(selector: &str) -> std::collections::HashMap<String, (u8, u8, u8)> {
    let start = PAGE_CSS
        .find(&format!("{selector} {{"))
        .expect("theme block");
    let end = PAGE_CSS[start..].find('}').expect("end") + start;
    PAGE_CSS[start..end]
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().strip_prefix("--")?.split_once(':')?;
            Some((
                name.trim().to_owned(),
                parse_hex(value.trim().trim_end_matches(';'))?,
            ))
        })
        .collect()
}

#[test]
fn both_themes_meet_wcag_aa_contrast() {
    let light = palette(":root");
    let dark = palette(":root[data-theme=\"dark\"]");
    let system_dark = palette("  :root:not([data-theme=\"light\"])");
    assert_eq!(
        dark, system_dark,
        "the system's dark theme is the chosen one"
    );
    let statuses = [
        "operational",
        "under_maintenance",
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "unknown",
    ];
    for (name, theme) in [("light", &light), ("dark", &dark)] {
        let c = |a: &str, b: &str| contrast(theme[a], theme[b]);
        for bg in ["bg", "surface"] {
            for fg in ["fg", "muted", "link"] {
                assert!(c(fg, bg) >= 4.5, "{name}: {fg} on {bg}: {:.2}", c(fg, bg));
            }
            // Status words are coloured text on the page and in group headers.
            for status in statuses {
                assert!(
                    c(status, bg) >= 4.5,
                    "{name}: {status} on {bg}: {:.2}",
                    c(status, bg)
                );
            }
            // Bars, dots and focus rings: graphics.
            for graphic in ["no_data", "focus", "chart-p50", "chart-p95"] {
                assert!(c(graphic, bg) >= 3.0, "{name}: {graphic} on {bg}");
            }
        }
        // The banner's text is the page background on the status colour.
        for status in statuses {
            assert!(c("bg", status) >= 4.5, "{name}: banner on {status}");
        }
        assert!(c("tip-fg", "tip-bg") >= 4.5, "{name}: bar details");
        // Buttons pressed (the theme toggle, the current period): bg on fg.
        assert!(c("bg", "fg") >= 4.5);
    }
    // The default accent and its text.
    let accent = parse_hex(super::assets::DEFAULT_ACCENT).expect("hex");
    assert!(contrast(accent, (255, 255, 255)) >= 4.5);
    // Any accent gets a readable text colour.
    for hex in ["#7b2ff7", "#ffee00", "#777777", "#00ff00", "#000080"] {
        let css = theme_css(Some(hex));
        let text = if css.contains("#ffffff;") {
            (255, 255, 255)
        } else {
            (0, 0, 0)
        };
        assert!(contrast(parse_hex(hex).expect("hex"), text) >= 4.5, "{hex}");
    }
}

#[test]
fn the_script_keeps_to_the_contract() {
    for hook in [
        "theme-toggle",
        "localStorage",
        "dataset.theme",
        "Intl.DateTimeFormat",
        "data-local",
        "30000",
        "closest('form')",
    ] {
        let hook = if hook == "data-local" {
            "dataset.local = '1'"
        } else {
            hook
        };
        assert!(PAGE_JS.contains(hook), "page.js has {hook}");
    }
    assert!(PAGE_CSS.contains("prefers-color-scheme: dark"));
    assert!(PAGE_CSS.contains(".visually-hidden"));
    assert!(PAGE_CSS.contains(".bar:hover .bar-detail, .bar:focus .bar-detail"));
}

/// Writes the sample site to `$PAGE_DUMP_DIR` (for looking at it in a browser):
/// `PAGE_DUMP_DIR=/tmp/site cargo test -p web --lib public::html::tests::dump -- --ignored`.
#[test]
#[ignore]
fn dump() {
    let Ok(dir) = std::env::var("PAGE_DUMP_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut model = fixture::page(true);
    model.stale = std::env::var("PAGE_DUMP_STALE").is_ok();
    for file in files(&model) {
        let mut path = dir.clone();
        if let Some(lang) = file.lang {
            path.push(lang.tag());
        }
        path.push(file.path.trim_start_matches('/'));
        if file.path == "/" || file.content_type == HTML {
            let name = if file.variant.is_empty() {
                "index.html".to_owned()
            } else {
                format!("index-{}.html", file.variant.replace('=', "-"))
            };
            path.push(name);
        }
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, &file.body).expect("write");
    }
}
