//! Small formatting helpers of the page: times, numbers and the words for statuses.

use super::super::i18n::{self, Arg, Lang};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{html, Markup, PreEscaped};
use serde::Serialize;

/// The snake-case name serde gives an enum value (`partial_outage`).
pub fn snake<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// ISO 8601 UTC with seconds: the `datetime` of a `<time>`.
pub fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `<time datetime="2026-12-01T12:00:00Z">2026-12-01 12:00 UTC</time>` (the script rewrites the
/// text into the visitor's zone).
pub fn time(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(iso(at)) { (at.format("%Y-%m-%d %H:%M UTC")) } }
}

/// A calendar day (UTC): not rewritten by the script.
pub fn day(day: NaiveDate) -> Markup {
    let text = day.format("%Y-%m-%d").to_string();
    html! { time datetime=(text) { (text) } }
}

/// A number with at most `decimals` decimals (trailing zeros dropped), with the language's
/// decimal mark.
pub fn number(lang: Lang, value: f64, decimals: usize) -> String {
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    if text == "-0" {
        text = "0".into();
    }
    match lang {
        Lang::En => text,
        Lang::De => text.replace('.', ","),
    }
}

/// An uptime figure: two decimals, rounded down so that 99.999 never reads as 100.
pub fn uptime_number(lang: Lang, percent: f64) -> String {
    let floored = (percent.clamp(0.0, 100.0) * 100.0).floor() / 100.0;
    number(lang, floored, 2)
}

/// `99.91%` / `99,91 %`; the words for no data without a figure.
pub fn percent(lang: Lang, percent: Option<f64>) -> String {
    match percent {
        Some(p) => i18n::t_args(
            lang,
            "page-percent",
            &[("value", Arg::Str(&uptime_number(lang, p)))],
        )
        .into_owned(),
        None => i18n::t(lang, "no-data").into_owned(),
    }
}

/// `76 ms`, `2.1 ms`; the words for no data without a figure.
pub fn ms(lang: Lang, value: Option<f64>) -> String {
    match value {
        Some(v) => {
            let decimals = if v.abs() < 10.0 { 1 } else { 0 };
            i18n::t_args(
                lang,
                "page-ms",
                &[("value", Arg::Str(&number(lang, v, decimals)))],
            )
            .into_owned()
        }
        None => i18n::t(lang, "no-data").into_owned(),
    }
}

/// The message `key` with its `{ $name }` argument replaced by `markup` (a `<time>`, a link):
/// the text around it is escaped, so the translation decides the word order.
pub fn t_markup(lang: Lang, key: &str, name: &str, markup: &Markup) -> Markup {
    t_markups(lang, key, &[(name, markup)])
}

/// [`t_markup`] with several arguments.
pub fn t_markups(lang: Lang, key: &str, args: &[(&str, &Markup)]) -> Markup {
    // Private-use characters stand in for the markup while the sentence is formatted.
    let marks: Vec<String> = (0..args.len())
        .map(|i| {
            char::from_u32(0xE000 + i as u32)
                .map(String::from)
                .unwrap_or_default()
        })
        .collect();
    let fluent_args: Vec<(&str, Arg<'_>)> = args
        .iter()
        .zip(&marks)
        .map(|((name, _), mark)| (*name, Arg::Str(mark)))
        .collect();
    let text = i18n::t_args(lang, key, &fluent_args);
    let mut out = html! { (text) }.into_string();
    for ((_, markup), mark) in args.iter().zip(&marks) {
        out = out.replace(mark.as_str(), &markup.0);
    }
    PreEscaped(out)
}

/// Plain text as paragraphs (one per non-empty line), each escaped.
pub fn paragraphs(text: &str, class: Option<&str>) -> Markup {
    html! {
        @for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            p class=[class] { (line) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_language() {
        assert_eq!(number(Lang::En, 99.5, 2), "99.5");
        assert_eq!(number(Lang::De, 99.5, 2), "99,5");
        assert_eq!(number(Lang::En, 100.0, 2), "100");
        assert_eq!(uptime_number(Lang::En, 99.999), "99.99");
        assert_eq!(uptime_number(Lang::En, 99.912), "99.91");
        assert_eq!(percent(Lang::En, Some(99.912)), "99.91%");
        assert_eq!(percent(Lang::De, Some(99.912)), "99,91 %");
        assert_eq!(ms(Lang::En, Some(76.3)), "76 ms");
        assert_eq!(ms(Lang::De, Some(2.14)), "2,1 ms");
    }

    #[test]
    fn markup_goes_into_escaped_sentences() {
        let inner = html! { b { "x" } };
        let out = t_markup(Lang::En, "page-updated", "time", &inner).into_string();
        assert_eq!(out, "Updated <b>x</b>");
    }
}
