//! The page's own files: its script and stylesheet (the same for every tenant) and the
//! tenant's theme (the accent colour).

use super::super::model::PageModel;
use super::super::{File, FileKind, CSS, JS};

pub const PAGE_CSS: &str = include_str!("../assets/page.css");
pub const PAGE_JS: &str = include_str!("../assets/page.js");
/// The accent without a valid one of the tenant's (blue, white text 5.2:1).
pub const DEFAULT_ACCENT: &str = "#0969da";

pub fn files(model: &PageModel) -> Vec<File> {
    vec![
        File::new(
            "/_assets/page.css",
            FileKind::Asset,
            CSS,
            PAGE_CSS.as_bytes().to_vec(),
        ),
        File::new(
            "/_assets/page.js",
            FileKind::Asset,
            JS,
            PAGE_JS.as_bytes().to_vec(),
        ),
        File::new(
            "/_assets/theme.css",
            FileKind::Asset,
            CSS,
            theme_css(model.branding.accent_color.as_deref()).into_bytes(),
        ),
    ]
}

/// `(r, g, b)` of a `#rrggbb` colour; `None` for anything else.
pub fn parse_hex(color: &str) -> Option<(u8, u8, u8)> {
    let hex = color.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((channel(0)?, channel(2)?, channel(4)?))
}

/// WCAG relative luminance.
pub fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/// WCAG contrast ratio of two colours.
pub fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The tenant's accent as custom properties: `--accent` and `--accent-text`, the one of black
/// and white that reads best on it (always at least 4.5:1).
pub fn theme_css(accent: Option<&str>) -> String {
    let (accent, rgb) = accent
        .map(str::trim)
        .and_then(|a| parse_hex(a).map(|rgb| (a.to_ascii_lowercase(), rgb)))
        .unwrap_or_else(|| {
            (
                DEFAULT_ACCENT.to_owned(),
                parse_hex(DEFAULT_ACCENT).unwrap_or((9, 105, 218)),
            )
        });
    let text = if contrast(rgb, (255, 255, 255)) >= contrast(rgb, (0, 0, 0)) {
        "#ffffff"
    } else {
        "#000000"
    };
    format!(
        "/* The page's accent (branding). */\n:root {{\n  --accent: {accent};\n  --accent-text: {text};\n}}\n"
    )
}
