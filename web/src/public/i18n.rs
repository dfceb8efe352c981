//! Every string a visitor reads, in English and German: Fluent messages in
//! `web/locales/<lang>/*.ftl` (one file per part of the site), compiled into the binary. The
//! language comes from `?lang=`, else from `Accept-Language`, else English.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The BCP 47 tag: `en`, `de` (also the `?lang=` value and `<html lang>`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The language's own name, for the language switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
        }
    }

    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.tag() == primary)
    }
}

/// `?lang=` when it names a language we have, else the best of `Accept-Language` (by `q`), else
/// English.
pub fn negotiate(query_lang: Option<&str>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = query_lang.and_then(Lang::parse) {
        return lang;
    }
    let Some(header) = accept_language else {
        return Lang::En;
    };
    let mut best: Option<(f32, Lang)> = None;
    // Bounded: a hostile header cannot make us walk more than this many entries.
    for entry in header.split(',').take(32) {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(lang) = Lang::parse(tag) {
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

/// The messages of each language: every `.ftl` file of `web/locales/<lang>/`.
macro_rules! locale_files {
    ($lang:literal) => {
        &[
            include_str!(concat!("../../locales/", $lang, "/common.ftl")),
            include_str!(concat!("../../locales/", $lang, "/page.ftl")),
            include_str!(concat!("../../locales/", $lang, "/charts.ftl")),
            include_str!(concat!("../../locales/", $lang, "/badges.ftl")),
            include_str!(concat!("../../locales/", $lang, "/feeds.ftl")),
        ]
    };
}

fn sources(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::En => locale_files!("en"),
        Lang::De => locale_files!("de"),
    }
}

fn bundle(lang: Lang) -> &'static FluentBundle<FluentResource> {
    static BUNDLES: OnceLock<Vec<FluentBundle<FluentResource>>> = OnceLock::new();
    let bundles = BUNDLES.get_or_init(|| {
        Lang::ALL
            .into_iter()
            .map(|lang| {
                let id: unic_langid::LanguageIdentifier =
                    lang.tag().parse().expect("our language tags parse");
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                // No Unicode isolation marks around arguments: our strings go into HTML and XML.
                bundle.set_use_isolating(false);
                for source in sources(lang) {
                    let resource = FluentResource::try_new((*source).to_owned()).unwrap_or_else(
                        |(_, errors)| panic!("{} messages: {errors:?}", lang.tag()),
                    );
                    bundle
                        .add_resource(resource)
                        .unwrap_or_else(|errors| panic!("{} messages: {errors:?}", lang.tag()));
                }
                bundle
            })
            .collect()
    });
    &bundles[Lang::ALL.iter().position(|l| *l == lang).expect("in ALL")]
}

/// The message `key` in `lang`; English when `lang` lacks it; the key itself when neither has
/// it (a test checks that every key exists in every language).
pub fn t(lang: Lang, key: &str) -> Cow<'static, str> {
    t_args(lang, key, &[])
}

/// The message `key` with `{ $name }` arguments: strings or numbers.
pub fn t_args(lang: Lang, key: &str, args: &[(&str, Arg<'_>)]) -> Cow<'static, str> {
    for lang in [lang, Lang::En] {
        let bundle = bundle(lang);
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            continue;
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            match value {
                Arg::Str(s) => fluent_args.set(*name, FluentValue::from(s.to_string())),
                Arg::Num(n) => fluent_args.set(*name, FluentValue::from(*n)),
            }
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        return Cow::Owned(text.into_owned());
    }
    Cow::Owned(key.to_owned())
}

/// An argument of [`t_args`].
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Str(&'a str),
    Num(f64),
}

/// Every message key of a language (for the test that both languages have the same keys).
pub fn keys(lang: Lang) -> Vec<String> {
    let mut keys: Vec<String> = sources(lang)
        .iter()
        .flat_map(|source| {
            let resource = FluentResource::try_new((*source).to_owned()).expect("parses");
            resource
                .entries()
                .filter_map(|entry| match entry {
                    fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_the_query_then_the_header() {
        assert_eq!(negotiate(Some("de"), Some("en-US")), Lang::De);
        assert_eq!(
            negotiate(Some("xx"), Some("de-DE,de;q=0.9,en;q=0.8")),
            Lang::De
        );
        assert_eq!(negotiate(None, Some("fr-FR, en;q=0.5, de;q=0.7")), Lang::De);
        assert_eq!(negotiate(None, Some("fr-FR")), Lang::En);
        assert_eq!(negotiate(None, Some("de;q=0")), Lang::En);
        assert_eq!(negotiate(None, None), Lang::En);
    }

    #[test]
    fn every_message_exists_in_every_language() {
        let en = keys(Lang::En);
        assert!(en.len() > 3, "messages load");
        assert_eq!(
            en,
            keys(Lang::De),
            "English and German have the same message keys"
        );
        let mut unique = en.clone();
        unique.dedup();
        assert_eq!(unique.len(), en.len(), "no key is defined twice");
    }

    #[test]
    fn messages_take_arguments() {
        assert_eq!(t(Lang::En, "status-operational"), "Operational");
        assert_eq!(t(Lang::De, "status-operational"), "Betriebsbereit");
        assert_eq!(
            t_args(
                Lang::En,
                "uptime-percent",
                &[("percent", Arg::Str("99.95"))]
            ),
            "99.95% uptime"
        );
        assert_eq!(t(Lang::De, "no-such-message"), "no-such-message");
    }
}
