//! The page a visitor reads: the status page (one file per chart period), the incident
//! history and one page per incident, in every language; plus the page's script and
//! stylesheets. Plain server-rendered HTML (maud escapes every text), readable without
//! JavaScript; no inline script or style, so the policy can be `script-src 'self'; style-src
//! 'self'`. The markup's hooks are the contract in `/work/notes/markup.md`.

mod assets;
mod fmt;
mod history;
mod home;
mod layout;
#[cfg(test)]
mod tests;

use super::i18n::{self, Arg, Lang};
use super::model::{PageModel, CHART_PERIODS};
use super::{File, FileKind, HTML};
use std::borrow::Cow;

/// The chart period of `/` without a query.
pub const DEFAULT_PERIOD: &str = "24h";

/// What every part of a page needs: the model and the language.
pub(crate) struct Ctx<'a> {
    pub model: &'a PageModel,
    pub lang: Lang,
}

impl Ctx<'_> {
    fn t(&self, key: &str) -> Cow<'static, str> {
        i18n::t(self.lang, key)
    }

    /// A message with string arguments.
    fn t_args(&self, key: &str, args: &[(&str, &str)]) -> Cow<'static, str> {
        let args: Vec<(&str, Arg<'_>)> = args.iter().map(|(k, v)| (*k, Arg::Str(v))).collect();
        i18n::t_args(self.lang, key, &args)
    }
}

/// Every HTML file of the site and the page's assets.
pub fn files(model: &PageModel) -> Vec<File> {
    let mut files = Vec::new();
    for lang in Lang::ALL {
        let cx = Ctx { model, lang };
        for (period, _) in CHART_PERIODS {
            let file = File::new(
                "/",
                FileKind::Page,
                HTML,
                home::page(&cx, period).into_bytes(),
            )
            .in_lang(lang);
            files.push(if period == DEFAULT_PERIOD {
                file
            } else {
                file.with_variant("period", period)
            });
        }
        files.push(
            File::new(
                "/history",
                FileKind::Page,
                HTML,
                history::history(&cx).into_bytes(),
            )
            .in_lang(lang),
        );
        for incident in &model.incidents {
            files.push(
                File::new(
                    format!("/incidents/{}", incident.id),
                    FileKind::Page,
                    HTML,
                    history::incident(&cx, incident).into_bytes(),
                )
                .in_lang(lang),
            );
        }
    }
    files.extend(assets::files(model));
    files
}
