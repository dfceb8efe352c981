//! SVG badges, flat and two-part like shields.io's: per component (by id) its status, its uptime
//! over a window and its median response time over 24 hours, and one for the whole page; in
//! every language (labels and values translated).
//!
//! - `/badge.svg`: `status | Partial outage`
//! - `/badges/<id>/status.svg`: `<component name> | Operational`
//! - `/badges/<id>/uptime.svg`: `uptime 30d | 99.91%` over the page's window, and
//!   `?window=24h|7d|30d|90d`
//! - `/badges/<id>/response-time.svg`: `response time 24h | 76 ms` (p50)
//!
//! Text widths are estimated from Verdana 11px advance widths (what shields.io measures with,
//! and the first font the badge asks for); `textLength` pins each text to its estimate, so the
//! badge looks the same whichever fallback font draws it. The value's colour follows the status
//! (or the figure) and every colour carries white text at 4.5:1 or more (tested). Accessible:
//! `role="img"`, `aria-label` and `<title>`; text is XML-escaped.

use super::charts::number;
use super::i18n::{t, t_args, Arg, Lang};
use super::model::{ComponentModel, PageModel, UPTIME_WINDOWS};
use super::{File, FileKind, SVG};
use api::engine::components::PageStatus;
use maud::html;

/// Badge colours, each with at least 4.5:1 contrast for white text.
pub const LABEL_COLOR: &str = "#555555";
pub const GREEN: &str = "#15803d";
pub const AMBER: &str = "#9a6700";
pub const ORANGE: &str = "#c2410c";
pub const RED: &str = "#b91c1c";
pub const BLUE: &str = "#1d4ed8";
pub const GREY: &str = "#6b7280";

/// Every badge of the page in every language.
pub fn files(model: &PageModel) -> Vec<File> {
    let mut files = Vec::new();
    for lang in Lang::ALL {
        let (message, color) = status_message(model.status, lang);
        files.push(badge_file(
            "/badge.svg".into(),
            lang,
            &t(lang, "badges-status"),
            &message,
            color,
        ));
        for component in model.components() {
            let base = format!("/badges/{}", component.id);
            let (message, color) = status_message(Some(component.status), lang);
            files.push(badge_file(
                format!("{base}/status.svg"),
                lang,
                &component.name,
                &message,
                color,
            ));
            let uptime = |window: &str| {
                let (label, message, color) = uptime_badge(component, window, lang);
                badge_file(format!("{base}/uptime.svg"), lang, &label, &message, color)
            };
            let default = if UPTIME_WINDOWS.contains(&model.uptime_window.as_str()) {
                model.uptime_window.as_str()
            } else {
                "30d"
            };
            files.push(uptime(default));
            for window in UPTIME_WINDOWS {
                files.push(uptime(window).with_variant("window", window));
            }
            let (message, color) = match component.p50_24h_ms.filter(|v| v.is_finite()) {
                Some(ms) => (
                    format!("{} ms", number(ms.round(), 0, lang)),
                    response_color(ms),
                ),
                None => (t(lang, "badges-no-data").into_owned(), GREY),
            };
            files.push(badge_file(
                format!("{base}/response-time.svg"),
                lang,
                &t(lang, "badges-response-time"),
                &message,
                color,
            ));
        }
    }
    files
}

fn badge_file(path: String, lang: Lang, label: &str, message: &str, color: &str) -> File {
    File::new(
        path,
        FileKind::Badge,
        SVG,
        badge(label, message, color).into_bytes(),
    )
    .in_lang(lang)
}

/// The page status key (`partial_outage`), `unknown` for none.
pub(crate) fn status_key(status: Option<PageStatus>) -> &'static str {
    match status {
        Some(PageStatus::Operational) => "operational",
        Some(PageStatus::UnderMaintenance) => "under_maintenance",
        Some(PageStatus::DegradedPerformance) => "degraded_performance",
        Some(PageStatus::PartialOutage) => "partial_outage",
        Some(PageStatus::MajorOutage) => "major_outage",
        None => "unknown",
    }
}

/// The status's words and colour.
fn status_message(status: Option<PageStatus>, lang: Lang) -> (String, &'static str) {
    let color = match status {
        Some(PageStatus::Operational) => GREEN,
        Some(PageStatus::UnderMaintenance) => BLUE,
        Some(PageStatus::DegradedPerformance) => AMBER,
        Some(PageStatus::PartialOutage) => ORANGE,
        Some(PageStatus::MajorOutage) => RED,
        None => GREY,
    };
    let text = match status {
        Some(_) => t(lang, &format!("status-{}", status_key(status))),
        None => t(lang, "badges-unknown"),
    };
    (text.into_owned(), color)
}

/// Label, value and colour of an uptime badge over `window`.
fn uptime_badge(
    component: &ComponentModel,
    window: &str,
    lang: Lang,
) -> (String, String, &'static str) {
    let label = t_args(
        lang,
        "badges-uptime",
        &[(
            "window",
            Arg::Str(&t(lang, &format!("badges-window-{window}"))),
        )],
    )
    .into_owned();
    let percent = component
        .uptime
        .iter()
        .find(|u| u.window == window)
        .and_then(|u| u.percent)
        .filter(|p| p.is_finite());
    match percent {
        Some(p) => (label, percent_text(p, lang), uptime_color(p)),
        None => (label, t(lang, "badges-no-data").into_owned(), GREY),
    }
}

/// `99.91%` (`99,91 %` in German): two decimals, rounded down so a badge never claims more
/// uptime than there was (99.999 is `99.99%`, only 100 is `100%`).
pub(crate) fn percent_text(percent: f64, lang: Lang) -> String {
    let p = percent.clamp(0.0, 100.0);
    let text = if p >= 100.0 {
        "100".to_owned()
    } else {
        let floored = ((p * 100.0) + 1e-9).floor() / 100.0;
        let s = format!("{floored:.2}");
        match lang {
            Lang::En => s,
            Lang::De => s.replace('.', ","),
        }
    };
    match lang {
        Lang::En => format!("{text}%"),
        Lang::De => format!("{text} %"),
    }
}

/// Uptime colours: 99.9% and up green, 99% amber, 95% orange, below that red.
fn uptime_color(percent: f64) -> &'static str {
    if percent >= 99.9 {
        GREEN
    } else if percent >= 99.0 {
        AMBER
    } else if percent >= 95.0 {
        ORANGE
    } else {
        RED
    }
}

/// Response-time colours (p50): up to 300 ms green, 1 s amber, 3 s orange, slower red.
fn response_color(ms: f64) -> &'static str {
    if ms <= 300.0 {
        GREEN
    } else if ms <= 1000.0 {
        AMBER
    } else if ms <= 3000.0 {
        ORANGE
    } else {
        RED
    }
}

/// A flat two-part badge: `label` on grey, `message` on `color`.
pub fn badge(label: &str, message: &str, color: &str) -> String {
    // Widths in whole pixels, 5 px padding each side; text in tenths (scale(.1)) like shields.
    let label_w = (text_width(label, 11.0).ceil() as u32) + 10;
    let message_w = (text_width(message, 11.0).ceil() as u32) + 10;
    let width = label_w + message_w;
    let label_text_len = (label_w - 10) * 10;
    let message_text_len = (message_w - 10) * 10;
    let label_x = label_w * 5;
    let message_x = label_w * 10 + message_w * 5;
    let aria = format!("{label}: {message}");
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(width) height="20"
            viewBox=(format!("0 0 {width} 20")) role="img" aria-label=(aria) {
            title { (aria) }
            linearGradient id="s" x2="0" y2="100%" {
                stop offset="0" stop-color="#bbb" stop-opacity=".1" {}
                stop offset="1" stop-opacity=".1" {}
            }
            clipPath id="r" {
                rect width=(width) height="20" rx="3" fill="#fff" {}
            }
            g clip-path="url(#r)" {
                rect width=(label_w) height="20" fill=(LABEL_COLOR) {}
                rect x=(label_w) width=(message_w) height="20" fill=(color) {}
                rect width=(width) height="20" fill="url(#s)" {}
            }
            g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif"
                text-rendering="geometricPrecision" font-size="110" {
                text aria-hidden="true" x=(label_x) y="150" fill="#010101" fill-opacity=".3"
                    transform="scale(.1)" textLength=(label_text_len) { (label) }
                text x=(label_x) y="140" transform="scale(.1)" fill="#fff"
                    textLength=(label_text_len) { (label) }
                text aria-hidden="true" x=(message_x) y="150" fill="#010101" fill-opacity=".3"
                    transform="scale(.1)" textLength=(message_text_len) { (message) }
                text x=(message_x) y="140" transform="scale(.1)" fill="#fff"
                    textLength=(message_text_len) { (message) }
            }
        }
    }
    .into_string()
}

/// Verdana's advance widths (units of 1/2048 em) for ASCII 32..=126.
const VERDANA: [u16; 95] = [
    720, 823, 942, 1706, 1302, 2215, 1472, 550, 930, 930, 1302, 1706, 745, 880, 745,
    930, // ' '../
    1302, 1302, 1302, 1302, 1302, 1302, 1302, 1302, 1302, 1302, // 0-9
    930, 930, 1706, 1706, 1706, 1112, 2048, // :;<=>?@
    1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 862, 936, 1424, 1147, 1743, 1535, 1640, 1233,
    1640, 1451, 1400, 1256, 1505, 1401, 2025, 1409, 1255, 1403, // A-Z
    930, 930, 930, 1706, 1302, 1302, // [\]^_`
    1229, 1270, 1067, 1270, 1218, 721, 1270, 1293, 563, 690, 1212, 563, 1987, 1293, 1237, 1270,
    1270, 874, 1064, 807, 1293, 1212, 1659, 1212, 1212, 1052, // a-z
    1302, 930, 1302, 1706, // {|}~
];
/// Width of characters outside the table and its Latin look-alikes (about an average capital).
const FALLBACK: u16 = 1400;
/// Wide characters (CJK, full width forms, emoji): a full em.
const WIDE: u16 = 2048;

/// The estimated width in pixels of `text` in Verdana at `font_px`.
pub fn text_width(text: &str, font_px: f64) -> f64 {
    let units: u32 = text.chars().map(|c| u32::from(char_units(c))).sum();
    f64::from(units) * font_px / 2048.0
}

fn char_units(c: char) -> u16 {
    let code = c as u32;
    if (32..=126).contains(&code) {
        return VERDANA[(code - 32) as usize];
    }
    let base = match c {
        '\u{a0}' => ' ',
        'À'..='Å' => 'A',
        'Ç' => 'C',
        'È'..='Ë' => 'E',
        'Ì'..='Ï' => 'I',
        'Ñ' => 'N',
        'Ò'..='Ö' | 'Ø' => 'O',
        'Ù'..='Ü' => 'U',
        'Ý' => 'Y',
        'à'..='å' => 'a',
        'ç' => 'c',
        'è'..='ë' => 'e',
        'ì'..='ï' => 'i',
        'ñ' => 'n',
        'ò'..='ö' | 'ø' => 'o',
        'ù'..='ü' => 'u',
        'ý' | 'ÿ' => 'y',
        'ß' => return 1280,
        'Æ' | 'Œ' => return 2200,
        'æ' | 'œ' => return 1950,
        '–' => return 1302,
        '—' => return 2048,
        '’' | '‘' => return 550,
        '“' | '”' | '„' => return 942,
        '…' => return 1800,
        _ => {
            let wide = matches!(code,
                0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF
                | 0x20000..=0x3FFFD);
            if c.is_control() || matches!(code, 0x200B..=0x200F | 0xFE00..=0xFE0F) {
                return 0;
            }
            return if wide { WIDE } else { FALLBACK };
        }
    };
    char_units(base)
}

/// WCAG 2 contrast ratio of two `#rrggbb` colours (for the tests of badges and charts).
#[cfg(test)]
pub(crate) fn contrast(a: &str, b: &str) -> f64 {
    fn luminance(hex: &str) -> f64 {
        let hex = hex.trim_start_matches('#');
        let channel = |i: usize| {
            let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    }
    let (a, b) = (luminance(a), luminance(b));
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public::fixture;

    fn find<'a>(files: &'a [File], path: &str, lang: Lang, variant: &str) -> &'a File {
        files
            .iter()
            .find(|f| f.path == path && f.lang == Some(lang) && f.variant == variant)
            .unwrap_or_else(|| panic!("{path} {lang:?} {variant:?} exists"))
    }

    fn text(file: &File) -> &str {
        std::str::from_utf8(&file.body).unwrap()
    }

    /// The badge's `<title>`, its aria-label (both must agree), its width and its value colour.
    fn read(svg: &str) -> (String, u32, String) {
        let doc = roxmltree::Document::parse(svg).expect("a badge is well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert_eq!(root.attribute("role"), Some("img"));
        let title = root
            .children()
            .find(|n| n.has_tag_name("title"))
            .and_then(|n| n.text())
            .expect("a title")
            .to_owned();
        assert_eq!(root.attribute("aria-label"), Some(title.as_str()));
        let width: u32 = root.attribute("width").unwrap().parse().unwrap();
        assert_eq!(
            root.attribute("viewBox"),
            Some(format!("0 0 {width} 20").as_str())
        );
        let rects: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("x").is_some())
            .collect();
        assert_eq!(rects.len(), 1, "one value part");
        let color = rects[0].attribute("fill").unwrap().to_owned();
        // Label and value texts fit the badge: text lengths (tenths) add up to the width.
        let lengths: u32 = doc
            .descendants()
            .filter(|n| n.has_tag_name("text") && n.attribute("aria-hidden").is_none())
            .map(|n| n.attribute("textLength").unwrap().parse::<u32>().unwrap())
            .sum();
        assert_eq!(
            lengths + 200,
            width * 10,
            "5 px padding on each side of both parts"
        );
        assert!(!svg.contains("style="), "no style attributes");
        (title, width, color)
    }

    #[test]
    fn every_component_has_its_badges_in_every_language_and_window() {
        let model = fixture::page(false);
        let files = files(&model);
        let components = model.components().count();
        assert_eq!(components, 4);
        // Per language: the page badge, and per component status, uptime (default and four
        // windows) and response time.
        assert_eq!(files.len(), 2 * (1 + components * (1 + 1 + 4 + 1)));
        for file in &files {
            assert_eq!(file.kind, FileKind::Badge);
            assert_eq!(file.content_type, SVG);
            assert!(file.lang.is_some());
            read(text(file));
        }
        for lang in Lang::ALL {
            find(&files, "/badge.svg", lang, "");
            for c in model.components() {
                let base = format!("/badges/{}", c.id);
                find(&files, &format!("{base}/status.svg"), lang, "");
                find(&files, &format!("{base}/response-time.svg"), lang, "");
                find(&files, &format!("{base}/uptime.svg"), lang, "");
                for window in UPTIME_WINDOWS {
                    find(
                        &files,
                        &format!("{base}/uptime.svg"),
                        lang,
                        &format!("window={window}"),
                    );
                }
            }
        }
        assert_eq!(files, super::files(&model), "deterministic");
    }

    #[test]
    fn uptime_badges_show_the_window_figure() {
        let model = fixture::page(false);
        let files = files(&model);
        let api = model.components().next().unwrap();
        let path = format!("/badges/{}/uptime.svg", api.id);
        let title = |lang, variant| read(text(find(&files, &path, lang, variant))).0;
        // The page's window (30d) is the default.
        assert_eq!(title(Lang::En, ""), "uptime 30d: 99.91%");
        assert_eq!(title(Lang::En, "window=30d"), "uptime 30d: 99.91%");
        assert_eq!(title(Lang::En, "window=7d"), "uptime 7d: 99.95%");
        assert_eq!(title(Lang::En, "window=24h"), "uptime 24h: 100%");
        assert_eq!(title(Lang::En, "window=90d"), "uptime 90d: no data");
        assert_eq!(title(Lang::De, ""), "Verfügbarkeit 30 Tage: 99,91 %");
        assert_eq!(
            title(Lang::De, "window=90d"),
            "Verfügbarkeit 90 Tage: keine Daten"
        );
        let svg = text(find(&files, &path, Lang::En, ""));
        assert!(svg.contains(">99.91%</text>"));
        // Colours follow the figure: 99.91 green, 99.95 green, no data grey.
        assert_eq!(read(svg).2, GREEN);
        assert_eq!(
            read(text(find(&files, &path, Lang::En, "window=90d"))).2,
            GREY
        );

        // Another default window.
        let mut model = fixture::page(false);
        model.uptime_window = "7d".into();
        let files = super::files(&model);
        assert_eq!(
            read(text(find(&files, &path, Lang::En, ""))).0,
            "uptime 7d: 99.95%"
        );
    }

    #[test]
    fn percentages_round_down_and_colours_follow_them() {
        assert_eq!(percent_text(99.912, Lang::En), "99.91%");
        assert_eq!(percent_text(99.999, Lang::En), "99.99%");
        assert_eq!(percent_text(100.0, Lang::En), "100%");
        assert_eq!(percent_text(99.5, Lang::De), "99,50 %");
        assert_eq!(percent_text(12.0, Lang::En), "12.00%");
        assert_eq!(uptime_color(99.95), GREEN);
        assert_eq!(uptime_color(99.5), AMBER);
        assert_eq!(uptime_color(97.0), ORANGE);
        assert_eq!(uptime_color(80.0), RED);
        assert_eq!(response_color(76.0), GREEN);
        assert_eq!(response_color(700.0), AMBER);
        assert_eq!(response_color(2000.0), ORANGE);
        assert_eq!(response_color(5000.0), RED);
    }

    #[test]
    fn status_badges_are_coloured_by_status_and_translated() {
        let model = fixture::page(false);
        let files = files(&model);
        let by_name = |name: &str| model.components().find(|c| c.name == name).unwrap().id;
        let status = |name: &str, lang| {
            read(text(find(
                &files,
                &format!("/badges/{}/status.svg", by_name(name)),
                lang,
                "",
            )))
        };
        let (title, _, color) = status("API", Lang::En);
        assert_eq!(title, "API: Partial outage");
        assert_eq!(color, ORANGE);
        assert_eq!(status("API", Lang::De).0, "API: Teilausfall");
        assert_eq!(status("Website", Lang::En).2, GREEN);
        assert_eq!(status("Website", Lang::De).0, "Website: Betriebsbereit");
        assert_eq!(status("Billing", Lang::En).2, BLUE);
        let (page, _, color) = read(text(find(&files, "/badge.svg", Lang::En, "")));
        assert_eq!(page, "status: Partial outage");
        assert_eq!(color, ORANGE);
        assert_eq!(
            read(text(find(&files, "/badge.svg", Lang::De, ""))).0,
            "Status: Teilausfall"
        );

        // Other statuses, and none known yet.
        let mut model = fixture::page(false);
        model.status = Some(PageStatus::MajorOutage);
        model.groups[0].components[0].status = PageStatus::DegradedPerformance;
        let files = super::files(&model);
        assert_eq!(read(text(find(&files, "/badge.svg", Lang::En, ""))).2, RED);
        let api = model.groups[0].components[0].id;
        let (title, _, color) = read(text(find(
            &files,
            &format!("/badges/{api}/status.svg"),
            Lang::En,
            "",
        )));
        assert_eq!(
            (title.as_str(), color.as_str()),
            ("API: Degraded performance", AMBER)
        );
        model.status = None;
        let files = super::files(&model);
        let (title, _, color) = read(text(find(&files, "/badge.svg", Lang::En, "")));
        assert_eq!((title.as_str(), color.as_str()), ("status: unknown", GREY));
        assert_eq!(
            read(text(find(&files, "/badge.svg", Lang::De, ""))).0,
            "Status: unbekannt"
        );
    }

    #[test]
    fn response_time_badges_show_the_median_of_24_hours() {
        let mut model = fixture::page(false);
        let files = files(&model);
        let api = model.groups[0].components[0].id;
        let path = format!("/badges/{api}/response-time.svg");
        let (title, _, color) = read(text(find(&files, &path, Lang::En, "")));
        assert_eq!(title, "response time 24h: 76 ms");
        assert_eq!(color, GREEN);
        assert_eq!(
            read(text(find(&files, &path, Lang::De, ""))).0,
            "Antwortzeit 24 Std.: 76 ms"
        );
        model.groups[0].components[0].p50_24h_ms = Some(1234.6);
        let files = super::files(&model);
        let (title, _, color) = read(text(find(&files, &path, Lang::En, "")));
        assert_eq!(
            (title.as_str(), color.as_str()),
            ("response time 24h: 1235 ms", ORANGE)
        );
        model.groups[0].components[0].p50_24h_ms = None;
        let files = super::files(&model);
        assert_eq!(
            read(text(find(&files, &path, Lang::En, ""))).0,
            "response time 24h: no data"
        );
    }

    #[test]
    fn names_are_escaped() {
        let mut model = fixture::page(false);
        model.groups[0].components[0].name = "A<&>\"B'".into();
        let files = files(&model);
        let api = model.groups[0].components[0].id;
        let file = find(&files, &format!("/badges/{api}/status.svg"), Lang::En, "");
        let svg = text(file);
        assert!(!svg.contains("A<&>"), "raw markup never gets through");
        assert!(svg.contains("A&lt;&amp;&gt;&quot;B'"));
        assert_eq!(read(svg).0, "A<&>\"B': Partial outage");
    }

    #[test]
    fn widths_grow_with_the_text() {
        assert!(text_width("W", 11.0) > text_width("i", 11.0));
        assert!(text_width("iiii", 11.0) > text_width("iii", 11.0));
        // Verdana 11px, as shields.io measures: digits 7 px, "build" 27 px, "passing" 41 px
        // (its build-passing badge has textLength 270 and 410).
        assert!((text_width("0", 11.0) - 7.0).abs() < 0.1);
        let build = text_width("build", 11.0);
        assert!((26.0..=28.0).contains(&build), "{build}");
        let passing = text_width("passing", 11.0);
        assert!((40.5..=42.5).contains(&passing), "{passing}");
        // Look-alikes and fallbacks.
        assert_eq!(text_width("ü", 11.0), text_width("u", 11.0));
        assert!(text_width("Ω", 11.0) > 0.0);
        assert!(text_width("状态", 11.0) > text_width("ab", 11.0));
        assert_eq!(text_width("\u{200b}", 11.0), 0.0);
        let width = |label: &str, message: &str| read(&badge(label, message, GREEN)).1;
        assert!(width("status", "up") < width("status", "operational"));
        assert!(width("a", "up") < width("a much longer label", "up"));
        assert!(width("Verfügbarkeit 30 Tage", "99,91 %") > width("uptime 30d", "99.91%"));
    }

    #[test]
    fn badge_colours_carry_white_text() {
        for color in [LABEL_COLOR, GREEN, AMBER, ORANGE, RED, BLUE, GREY] {
            let ratio = contrast(color, "#ffffff");
            assert!(ratio >= 4.5, "{color}: {ratio:.2}");
        }
        assert!(contrast("#000000", "#ffffff") > 20.9);
    }
}
