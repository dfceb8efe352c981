//! The embeddable widget: `/widget`, a tiny framable page (the page's status and its active
//! incidents, each a link to the page in a new tab; no script, no inline style: its stylesheet
//! is `/_assets/widget.css`), and `/widget.js`, the embed script other sites load with
//! `<script src="https://<page>/widget.js" async></script>`. The script frames `<page>/widget`
//! right after its own tag (or inside the first element with `data-statuspage-widget`), passes
//! `data-lang` on as `?lang=`, and takes the page's address from its own `src`
//! (`document.currentScript`), so it works on every host the page answers on (custom domains
//! too) and holds no address itself.

use super::badges::status_key;
use super::i18n::{t, t_args, Arg, Lang};
use super::model::PageModel;
use super::{File, FileKind, CSS, HTML, JS};
use api::incidents::IncidentStatus;
use maud::{html, DOCTYPE};
use std::collections::BTreeMap;

/// The widget's height in CSS pixels as the script frames it (unless `data-height` says).
pub const FRAME_HEIGHT: u32 = 104;
/// Its widest (it fills narrower containers).
pub const FRAME_MAX_WIDTH: u32 = 360;

pub fn files(model: &PageModel) -> Vec<File> {
    let mut files: Vec<File> = Lang::ALL
        .into_iter()
        .map(|lang| {
            File::new(
                "/widget",
                FileKind::Widget,
                HTML,
                page(model, lang).into_bytes(),
            )
            .in_lang(lang)
        })
        .collect();
    files.push(File::new(
        "/widget.js",
        FileKind::Widget,
        JS,
        script(model).into_bytes(),
    ));
    files.push(File::new(
        "/_assets/widget.css",
        FileKind::Asset,
        CSS,
        STYLESHEET.as_bytes().to_vec(),
    ));
    files
}

/// The framed page in `lang`.
fn page(model: &PageModel, lang: Lang) -> String {
    let page_url = format!("{}/?lang={}", model.url, lang.tag());
    let status = status_key(model.status);
    let status_text = t(lang, &format!("banner-{status}"));
    let active: Vec<_> = model
        .incidents
        .iter()
        .filter(|i| i.status != IncidentStatus::Resolved)
        .collect();
    let incidents_text = t_args(
        lang,
        "widget-incidents",
        &[("count", Arg::Num(active.len() as f64))],
    );
    // One active incident: straight to its page; otherwise the status page.
    let incidents_url = match active.as_slice() {
        [only] => format!("{}/incidents/{}?lang={}", model.url, only.id, lang.tag()),
        _ => page_url.clone(),
    };
    let new_tab = t(lang, "widget-new-tab");
    let title = t_args(
        lang,
        "widget-document-title",
        &[
            ("title", Arg::Str(&model.title)),
            ("status", Arg::Str(&status_text)),
        ],
    );
    let generated = model.generated_at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let generated_text = model.generated_at.format("%Y-%m-%d %H:%M UTC").to_string();
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                link rel="stylesheet" href="/_assets/widget.css";
            }
            body class="widget" data-status=(status) {
                main class="widget-main" {
                    a class="widget-page" href=(page_url) target="_blank" rel="noopener" {
                        (model.title)
                        span class="widget-sr" { " " (new_tab) }
                    }
                    a class="widget-status" href=(page_url) target="_blank" rel="noopener" {
                        span class="widget-dot" aria-hidden="true" {}
                        span class="widget-status-text" { (status_text) }
                        span class="widget-sr" { " " (new_tab) }
                    }
                    a class="widget-incidents" href=(incidents_url) target="_blank" rel="noopener"
                        data-count=(active.len()) {
                        (incidents_text)
                        span class="widget-sr" { " " (new_tab) }
                    }
                    @if model.stale {
                        p class="widget-stale" {
                            (t(lang, "widget-stale")) " "
                            time datetime=(generated) { (generated_text) }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

/// The embed script. The frame's title (read by screen readers) in each language, from the
/// page's title; everything else is the same for every page.
fn script(model: &PageModel) -> String {
    let titles: BTreeMap<&str, String> = Lang::ALL
        .into_iter()
        .map(|lang| {
            (
                lang.tag(),
                t_args(
                    lang,
                    "widget-frame-title",
                    &[("title", Arg::Str(&model.title))],
                )
                .into_owned(),
            )
        })
        .collect();
    // JSON is a JavaScript expression; `<` escaped as well in case someone inlines the script.
    let titles = serde_json::to_string(&titles)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c");
    SCRIPT
        .replace("__TITLES__", &titles)
        .replace("__HEIGHT__", &FRAME_HEIGHT.to_string())
        .replace("__MAX_WIDTH__", &FRAME_MAX_WIDTH.to_string())
}

const SCRIPT: &str = r#"/* Status widget. Embed with a script element (and its end tag):
 *   <script src="https://status.example.com/widget.js" async>
 * It frames this status page's /widget right after the script tag, or inside the first empty
 * element with a data-statuspage-widget attribute. Options (on the script or that element):
 * data-lang="de" (the widget's language), data-height="120" (pixels). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    var scripts = document.querySelectorAll('script[src*="/widget.js"]');
    script = scripts[scripts.length - 1];
  }
  if (!script || !script.src) return;
  var src;
  try {
    // The page's own address, from where this script came from (custom domains included).
    src = new URL("/widget", script.src);
  } catch (e) {
    return;
  }
  var host = null;
  var hosts = document.querySelectorAll("[data-statuspage-widget]");
  for (var i = 0; i < hosts.length; i++) {
    if (!hosts[i].querySelector("iframe.statuspage-widget")) {
      host = hosts[i];
      break;
    }
  }
  function option(name) {
    return (host && host.getAttribute(name)) || script.getAttribute(name) || "";
  }
  var lang = option("data-lang");
  if (/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(lang)) {
    src.searchParams.set("lang", lang);
  }
  var titles = __TITLES__;
  var frame = document.createElement("iframe");
  frame.className = "statuspage-widget";
  frame.src = src.href;
  frame.title = titles[lang.split("-")[0].toLowerCase()] || titles.en;
  frame.setAttribute("loading", "lazy");
  frame.setAttribute("referrerpolicy", "strict-origin-when-cross-origin");
  frame.setAttribute("sandbox", "allow-popups allow-popups-to-escape-sandbox");
  var height = parseInt(option("data-height"), 10);
  if (!(height > 0 && height <= 2000)) height = __HEIGHT__;
  frame.height = String(height);
  frame.width = "100%";
  frame.style.border = "0";
  frame.style.display = "block";
  frame.style.width = "100%";
  frame.style.maxWidth = "__MAX_WIDTH__px";
  frame.style.height = height + "px";
  if (host) {
    host.appendChild(frame);
  } else if (script.parentNode) {
    script.parentNode.insertBefore(frame, script.nextSibling);
  }
})();
"#;

/// `/_assets/widget.css`: light and dark (system preference), AA contrast in both.
const STYLESHEET: &str = r#":root { color-scheme: light dark; }
*, *::before, *::after { box-sizing: border-box; }
html, body { margin: 0; }
body.widget {
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2937;
  background: #ffffff;
  padding: 10px 12px;
}
.widget-main { display: flex; flex-direction: column; gap: 3px; }
.widget a { color: inherit; text-decoration: none; border-radius: 2px; }
.widget a:hover { text-decoration: underline; }
.widget a:focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
.widget-page { font-size: 12px; color: #4b5563 !important; }
.widget-status { display: flex; align-items: center; gap: 8px; font-size: 16px; font-weight: 600; }
.widget-dot { flex: none; width: 12px; height: 12px; border-radius: 50%; background: #6b7280; }
[data-status="operational"] .widget-dot { background: #15803d; }
[data-status="under_maintenance"] .widget-dot { background: #1d4ed8; }
[data-status="degraded_performance"] .widget-dot { background: #9a6700; }
[data-status="partial_outage"] .widget-dot { background: #c2410c; }
[data-status="major_outage"] .widget-dot { background: #b91c1c; }
.widget-incidents { font-size: 13px; color: #374151 !important; }
.widget-stale { margin: 0; font-size: 12px; color: #92400e; }
.widget-sr {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0;
  overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap;
}
@media (prefers-color-scheme: dark) {
  body.widget { color: #f3f4f6; background: #111827; }
  .widget a:focus-visible { outline-color: #93c5fd; }
  .widget-page { color: #d1d5db !important; }
  .widget-incidents { color: #e5e7eb !important; }
  .widget-stale { color: #fcd34d; }
  .widget-dot { background: #9ca3af; }
  [data-status="operational"] .widget-dot { background: #22c55e; }
  [data-status="under_maintenance"] .widget-dot { background: #60a5fa; }
  [data-status="degraded_performance"] .widget-dot { background: #facc15; }
  [data-status="partial_outage"] .widget-dot { background: #fb923c; }
  [data-status="major_outage"] .widget-dot { background: #f87171; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public::fixture;
    use chrono::Duration;

    fn widget(files: &[File], lang: Lang) -> String {
        let file = files
            .iter()
            .find(|f| f.path == "/widget" && f.lang == Some(lang))
            .expect("a widget per language");
        assert_eq!((file.kind, file.content_type), (FileKind::Widget, HTML));
        String::from_utf8(file.body.clone()).unwrap()
    }

    fn single<'a>(files: &'a [File], path: &str) -> &'a File {
        let found: Vec<_> = files.iter().filter(|f| f.path == path).collect();
        assert_eq!(found.len(), 1, "{path} once, the same in every language");
        assert_eq!(found[0].lang, None);
        found[0]
    }

    /// Every `<a ...>` start tag's attributes.
    fn links(html: &str) -> Vec<&str> {
        html.split("<a ")
            .skip(1)
            .map(|rest| &rest[..rest.find('>').unwrap()])
            .collect()
    }

    #[test]
    fn the_widget_shows_status_and_incidents_linking_to_the_page() {
        let model = fixture::page(false);
        let files = files(&model);
        assert_eq!(files.len(), 4);
        let html = widget(&files, Lang::En);
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/_assets/widget.css\">"));
        assert!(html.contains("<title>Acme status: Partial outage</title>"));
        assert!(html.contains("<body class=\"widget\" data-status=\"partial_outage\">"));
        assert!(html.contains(">Partial outage</span>"));
        // Self-contained: no script, no inline style.
        assert!(!html.contains("<script"));
        assert!(!html.contains("<style"));
        assert!(!html.contains("style="));
        // Every link opens the page in a new tab, and says so to screen readers.
        let links = links(&html);
        assert_eq!(links.len(), 3);
        for link in &links {
            assert!(
                link.contains("target=\"_blank\" rel=\"noopener\""),
                "{link}"
            );
            assert!(
                link.contains("href=\"https://acme.status.example/"),
                "{link}"
            );
        }
        assert_eq!(html.matches("(opens in a new tab)").count(), 3);
        assert!(links[0].contains("href=\"https://acme.status.example/?lang=en\""));
        // One active incident (the fixture's "Elevated API errors"): straight to it.
        let active = model.incident(links_id()).unwrap();
        assert_eq!(active.title, "Elevated API errors");
        assert!(links[2].contains(&format!(
            "href=\"https://acme.status.example/incidents/{}?lang=en\"",
            active.id
        )));
        assert!(links[2].contains("data-count=\"1\""));
        assert!(html.contains(">1 active incident<"));
        assert!(!html.contains("widget-stale"));

        let de = widget(&files, Lang::De);
        assert!(de.starts_with("<!DOCTYPE html><html lang=\"de\">"));
        assert!(de.contains(">Teilausfall</span>"));
        assert!(de.contains(">1 aktive Störung<"));
        assert!(de.contains("(öffnet in einem neuen Tab)"));
        assert!(de.contains("href=\"https://acme.status.example/?lang=de\""));
        assert_eq!(files, super::files(&model), "deterministic");
    }

    fn links_id() -> uuid::Uuid {
        fixture::page(false)
            .incidents
            .iter()
            .find(|i| i.status != IncidentStatus::Resolved)
            .unwrap()
            .id
    }

    #[test]
    fn the_incident_count_follows_the_open_incidents() {
        let mut model = fixture::page(false);
        for incident in &mut model.incidents {
            incident.status = IncidentStatus::Resolved;
        }
        model.status = Some(api::engine::components::PageStatus::Operational);
        let html = widget(&files(&model), Lang::En);
        assert!(html.contains(">No active incidents<"));
        assert!(html.contains(">All systems operational</span>"));
        assert!(html.contains("data-count=\"0\""));
        assert!(widget(&files(&model), Lang::De).contains(">Keine aktiven Störungen<"));

        for incident in &mut model.incidents {
            incident.status = IncidentStatus::Investigating;
        }
        let html = widget(&files(&model), Lang::En);
        assert!(html.contains(">3 active incidents<"));
        // Several: the page, not one of them.
        assert!(links(&html)[2].contains("href=\"https://acme.status.example/?lang=en\""));
        assert!(widget(&files(&model), Lang::De).contains(">3 aktive Störungen<"));

        model.status = None;
        model.stale = true;
        model.generated_at = fixture::now() - Duration::minutes(5);
        let html = widget(&files(&model), Lang::En);
        assert!(html.contains("data-status=\"unknown\""));
        assert!(html.contains(">Status not known yet</span>"));
        assert!(
            html.contains("<time datetime=\"2026-12-01T11:55:00Z\">2026-12-01 11:55 UTC</time>")
        );
    }

    #[test]
    fn the_page_title_is_escaped_in_the_widget_and_the_script() {
        let mut model = fixture::page(false);
        model.title = "Acme <&> \"status\" </script>".into();
        let files = files(&model);
        let html = widget(&files, Lang::En);
        assert!(!html.contains("<&>"));
        assert!(html.contains("Acme &lt;&amp;&gt; &quot;status&quot; &lt;/script&gt;"));
        let js = std::str::from_utf8(&single(&files, "/widget.js").body).unwrap();
        assert!(!js.contains("</script>"));
        assert!(js.contains(
            r#"var titles = {"de":"Acme \u003c&> \"status\" \u003c/script>: aktueller Status","en":"Acme \u003c&> \"status\" \u003c/script>: current status"};"#
        ));
    }

    #[test]
    fn the_script_frames_the_widget_of_wherever_it_came_from() {
        let model = fixture::page(false);
        let files = files(&model);
        let file = single(&files, "/widget.js");
        assert_eq!((file.kind, file.content_type), (FileKind::Widget, JS));
        let js = std::str::from_utf8(&file.body).unwrap();
        // The address comes from the script's own src: nothing of this page is in it but its
        // title, so a custom domain works.
        assert!(js.contains("document.currentScript"));
        assert!(js.contains(r#"new URL("/widget", script.src)"#));
        for host in &model.hosts {
            assert!(!js.contains(host.as_str()), "{host}");
        }
        assert!(!js.contains(&model.url));
        assert!(js.contains(r#"src.searchParams.set("lang", lang)"#));
        assert!(js.contains(r#"option("data-lang")"#));
        assert!(js.contains("[data-statuspage-widget]"));
        assert!(js.contains("script.parentNode.insertBefore(frame, script.nextSibling)"));
        assert!(js.contains("frame.title = titles["));
        assert!(js.contains(r#""en":"Acme status: current status""#));
        assert!(js.contains(r#""de":"Acme status: aktueller Status""#));
        assert!(js.contains("height = 104;"));
        assert!(js.contains(r#"frame.style.maxWidth = "360px";"#));
        assert!(!js.contains("__"), "every placeholder filled");
        let css = single(&files, "/_assets/widget.css");
        assert_eq!((css.kind, css.content_type), (FileKind::Asset, CSS));
        let css = std::str::from_utf8(&css.body).unwrap();
        assert!(css.contains("prefers-color-scheme: dark"));
        assert_eq!(css.matches('{').count(), css.matches('}').count());
    }

    /// The script, run by Node against a small stand-in for the DOM: where it puts the frame
    /// and what it frames. Skipped (with a note) where Node is not installed.
    #[test]
    fn the_script_runs() {
        let model = fixture::page(false);
        let files = files(&model);
        let js = std::str::from_utf8(&single(&files, "/widget.js").body)
            .unwrap()
            .to_owned();
        let harness = r#"
const results = [];
function element(tag, attrs) {
  return {
    tagName: tag, attrs: attrs || {}, children: [], style: {},
    get nextSibling() { const s = this.parentNode.children; return s[s.indexOf(this) + 1] || null; },
    getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
    setAttribute(n, v) { this.attrs[n] = String(v); },
    querySelector(sel) { return this.children.find(c => c.className === "statuspage-widget") || null; },
    appendChild(c) { this.children.push(c); c.parentNode = this; return c; },
    insertBefore(c, ref) { const i = this.children.indexOf(ref); this.children.splice(i < 0 ? this.children.length : i, 0, c); c.parentNode = this; return c; },
  };
}
function run(scriptAttrs, hostAttrs) {
  const body = element("body");
  const script = body.appendChild(element("script", scriptAttrs));
  script.src = scriptAttrs.src;
  const after = body.appendChild(element("p"));
  const host = hostAttrs ? body.appendChild(element("div", hostAttrs)) : null;
  global.document = {
    currentScript: script,
    querySelectorAll(sel) { return sel === "[data-statuspage-widget]" && host ? [host] : []; },
    createElement(tag) { return element(tag); },
  };
  new Function(SCRIPT)();
  const frame = (host || body).children.find(c => c.tagName === "iframe");
  return {
    src: frame.src, title: frame.title, height: frame.height,
    sandbox: frame.attrs.sandbox,
    where: host ? "host" : body.children.indexOf(frame) === body.children.indexOf(script) + 1 ? "after-script" : "elsewhere",
  };
}
results.push(run({ src: "https://status.acme.example/widget.js" }));
results.push(run({ src: "https://status.acme.example/widget.js", "data-lang": "de" }));
results.push(run({ src: "http://demo.localhost:3000/widget.js?v=1" }, { "data-statuspage-widget": "", "data-lang": "de", "data-height": "150" }));
results.push(run({ src: "https://x.example/widget.js", "data-lang": "en\"><img>" }));
console.log(JSON.stringify(results));
"#;
        let program = format!(
            "const SCRIPT = {};\n{harness}",
            serde_json::to_string(&js).unwrap()
        );
        let output = match std::process::Command::new("node")
            .arg("-e")
            .arg(&program)
            .output()
        {
            Ok(output) => output,
            Err(e) => {
                eprintln!("skipped: node not found ({e})");
                return;
            }
        };
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let results: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let expect = serde_json::json!([
            { "src": "https://status.acme.example/widget", "title": "Acme status: current status",
              "height": "104", "sandbox": "allow-popups allow-popups-to-escape-sandbox",
              "where": "after-script" },
            { "src": "https://status.acme.example/widget?lang=de", "title": "Acme status: aktueller Status",
              "height": "104", "sandbox": "allow-popups allow-popups-to-escape-sandbox",
              "where": "after-script" },
            { "src": "http://demo.localhost:3000/widget?lang=de", "title": "Acme status: aktueller Status",
              "height": "150", "sandbox": "allow-popups allow-popups-to-escape-sandbox",
              "where": "host" },
            { "src": "https://x.example/widget", "title": "Acme status: current status",
              "height": "104", "sandbox": "allow-popups allow-popups-to-escape-sandbox",
              "where": "after-script" },
        ]);
        assert_eq!(results, expect);
    }
}
