//! Pages and the server functions they call.

use crate::views::{AdminView, HomeView, StatusView};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // A fresh nonce for this response's Content-Security-Policy, before the scripts that carry it.
    #[cfg(feature = "ssr")]
    crate::server::headers::page_nonce();
    let nonce = leptos::nonce::use_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <style nonce=nonce>{STYLE}</style>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The one stylesheet, inlined in every page (the Leptos shell, the password and 404 pages).
pub const STYLE: &str = include_str!("../style/main.css");

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Router>
            <main>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/signup") view=SignupPage/>
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <section class="card"><h1>"404: nothing here"</h1><p><a href="/">"Back to the start"</a></p></section>
    }
}

/// The landing page on the platform's own host, a tenant's status page on its subdomain.
#[server(prefix = "/rpc", endpoint = "home")]
pub async fn load_home() -> Result<HomeView, ServerFnError> {
    crate::server::pages::home_view().await
}

#[component]
fn HomePage() -> impl IntoView {
    // Bumped by a timer in the browser so the page follows the checks without a reload.
    let refresh = RwSignal::new(0u32);
    let home = Resource::new(move || refresh.get(), |_| load_home());
    Effect::new(move |_| {
        set_interval(
            move || refresh.update(|n| *n += 1),
            std::time::Duration::from_secs(15),
        );
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match home.await {
                    Ok(HomeView::Landing { base_domain }) => view! { <Landing base_domain/> }.into_any(),
                    Ok(HomeView::Status(status)) => view! { <StatusPage status/> }.into_any(),
                    Err(e) => view! { <section class="card"><h1>"Status unavailable"</h1><p>{e.to_string()}</p></section> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Landing(base_domain: String) -> impl IntoView {
    view! {
        <Title text="Statuspage: honest status pages"/>
        <section class="hero">
            <h1>"Status pages your customers can trust"</h1>
            <p>"Monitors checked from many regions with DNS, TCP, TLS and time-to-first-byte timings you can audit. "
               "Claim " <code>{format!("yourname.{base_domain}")}</code> " and publish in minutes."</p>
            <p><a class="button" href="/signup">"Create a status page"</a>" " <a href="/login">"Sign in"</a></p>
        </section>
    }
}

#[component]
fn StatusPage(status: StatusView) -> impl IntoView {
    let StatusView {
        title,
        overall,
        headline,
        generated_at,
        stale,
        monitors,
        incidents,
        maintenances,
    } = status;
    view! {
        <Title text=title.clone()/>
        <header class="page-header"><h1>{title}</h1></header>
        <section class=format!("banner {overall}") data-status=overall.clone()>{headline}</section>
        {stale.then(|| view! { <p class="warning">"Showing the last known status: live data is briefly unavailable."</p> })}
        {(!maintenances.is_empty()).then(|| view! {
            <section class="maintenances">
                <h2>"Scheduled maintenance"</h2>
                {maintenances.into_iter().map(|m| {
                    let (status, key) = (m.status.clone(), m.title.clone());
                    view! {
                    <article class="maintenance card" data-maintenance=key data-status=status>
                        <h3>{m.title}" " <span class=format!("phase {}", m.status)>{m.status_label}</span></h3>
                        <p class="muted"><time datetime=m.starts_at.clone()>{m.starts_at.clone()}</time>" – "<time datetime=m.ends_at.clone()>{m.ends_at.clone()}</time>
                            {(!m.components.is_empty()).then(|| format!(" · {}", m.components))}</p>
                        {(!m.description.is_empty()).then(|| view! { <p>{m.description}</p> })}
                    </article>
                }}).collect_view()}
            </section>
        })}
        {(!incidents.is_empty()).then(|| view! {
            <section class="incidents">
                <h2>"Incidents"</h2>
                {incidents.into_iter().map(|i| {
                    let (status, key) = (i.status.clone(), i.title.clone());
                    view! {
                    <article class=format!("incident card impact-{}", i.impact) data-incident=key data-status=status>
                        <h3>{i.title}" " <span class=format!("phase {}", i.status)>{i.status_label}</span></h3>
                        <p class="muted">"Since " <time datetime=i.started_at.clone()>{i.started_at.clone()}</time>
                            {(!i.components.is_empty()).then(|| format!(" · {}", i.components))}</p>
                        <ol class="timeline">
                            {i.updates.into_iter().map(|u| view! {
                                <li><strong>{u.status_label}</strong>" — "{u.message}" " <time class="muted" datetime=u.at.clone()>{u.at.clone()}</time></li>
                            }).collect_view()}
                        </ol>
                    </article>
                }}).collect_view()}
            </section>
        })}
        <section class="monitors">
            {monitors.into_iter().map(|m| {
                let (name, status) = (m.name.clone(), m.status.clone());
                view! {
                <article class="monitor" data-monitor=name data-status=status>
                    <div class="monitor-head">
                        <span class=format!("dot {}", m.status)></span>
                        <h2>{m.name}</h2>
                        {m.component.map(|c| view! { <span class="component">{c}</span> })}
                        <span class=format!("status {}", m.status)>{m.status_label}</span>
                        <span class="uptime" title="uptime over the last 24 hours">{m.uptime_24h}" uptime (24h)"</span>
                        {m.uptime_windows.into_iter().map(|(window, uptime)| {
                            let label = format!("{uptime} ({window})");
                            view! { <span class="uptime" data-window=window>{label}</span> }
                        }).collect_view()}
                    </div>
                    <div class="days" aria-label="last 90 days">
                        {m.days.into_iter().map(|d| view! {
                            <span class=format!("day {}", d.status) data-day=d.day title=d.title></span>
                        }).collect_view()}
                    </div>
                    <table class="regions">
                        <thead><tr><th>"Region"</th><th>"Status"</th><th>"Last latency"</th><th title="median / 95th percentile of the total time, last 24 hours">"p50 / p95 (24h)"</th><th>"Checked at"</th></tr></thead>
                        <tbody>
                            {m.regions.into_iter().map(|r| {
                                let region = r.region.clone();
                                let failure_title = r.failure.clone().unwrap_or_default();
                                view! {
                                <tr data-region=region>
                                    <td>{r.region}</td>
                                    <td class=format!("status {}", r.status) title=failure_title>{r.status.clone()}
                                        {r.failure.map(|f| view! { " " <small class="failure">{f}</small> })}
                                    </td>
                                    <td class="latency">{r.latency}</td>
                                    <td class="latency-24h">{r.latency_24h}</td>
                                    <td><time datetime=r.checked_at.clone()>{r.checked_at.clone()}</time></td>
                                </tr>
                            }}).collect_view()}
                        </tbody>
                    </table>
                </article>
            }}).collect_view()}
        </section>
        // A plain form: subscribing works without JavaScript (web/src/server/subscribe.rs).
        <section class="subscribe card">
            <h2>"Get status updates"</h2>
            <form method="post" action="/_status-page/subscribe">
                <input type="hidden" name="kind" value="email"/>
                <label>"Email " <input type="email" name="target" required=true maxlength="254" placeholder="you@example.com"/></label>
                " " <button type="submit">"Subscribe"</button>
            </form>
            <p class="muted"><a href="/_status-page/subscribe">"Webhook, Slack, or only some components"</a></p>
        </section>
        <footer class="muted">"Updated " <time datetime=generated_at.clone()>{generated_at.clone()}</time></footer>
    }
}

/// Signs in with email and password; on success sets the session cookie and goes to the admin.
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), ServerFnError> {
    crate::server::pages::login(email, password).await
}

/// Creates a tenant with its owner (the status page at `<slug>.<base domain>`), signs the owner
/// in and goes to the admin.
#[server(prefix = "/rpc", endpoint = "signup")]
pub async fn signup(
    slug: String,
    name: String,
    email: String,
    password: String,
) -> Result<(), ServerFnError> {
    crate::server::pages::signup(slug, name, email, password).await
}

#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), ServerFnError> {
    crate::server::pages::logout().await
}

#[component]
fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    view! {
        <Title text="Sign in"/>
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <ActionForm action=login>
                <label>"Email" <input type="email" name="email" required autocomplete="username"/></label>
                <label>"Password" <input type="password" name="password" required autocomplete="current-password"/></label>
                <button type="submit">"Sign in"</button>
            </ActionForm>
            {move || login.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error">{error_text(&e)}</p> })}
        </section>
    }
}

#[component]
fn SignupPage() -> impl IntoView {
    let signup = ServerAction::<Signup>::new();
    view! {
        <Title text="Create a status page"/>
        <section class="card narrow">
            <h1>"Create a status page"</h1>
            <ActionForm action=signup>
                <label>"Address (a-z, 0-9, hyphens)" <input type="text" name="slug" required minlength="3" maxlength="40" pattern="[a-z0-9-]+" autocomplete="off"/></label>
                <label>"Organisation name" <input type="text" name="name" required maxlength="100" autocomplete="organization"/></label>
                <label>"Email" <input type="email" name="email" required autocomplete="username"/></label>
                <label>"Password (10+ characters)" <input type="password" name="password" required minlength="10" autocomplete="new-password"/></label>
                <button type="submit">"Create"</button>
            </ActionForm>
            {move || signup.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
            <p class="muted">"Already have one? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}

fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

#[server(prefix = "/rpc", endpoint = "admin")]
pub async fn load_admin() -> Result<AdminView, ServerFnError> {
    crate::server::pages::admin_view().await
}

/// Adds an HTTP monitor from the admin form.
#[server(prefix = "/rpc", endpoint = "add_monitor")]
pub async fn add_monitor(name: String, url: String) -> Result<(), ServerFnError> {
    crate::server::pages::add_monitor(name, url).await
}

#[component]
fn AdminPage() -> impl IntoView {
    let add = ServerAction::<AddMonitor>::new();
    let logout = ServerAction::<Logout>::new();
    let admin = Resource::new(move || add.version().get(), |_| load_admin());
    view! {
        <Title text="Admin"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match admin.await {
                    Ok(view) => view! { <AdminBody view add logout/> }.into_any(),
                    Err(e) => view! { <section class="card"><p class="error">{error_text(&e)}</p><a href="/login">"Sign in"</a></section> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AdminBody(
    view: AdminView,
    add: ServerAction<AddMonitor>,
    logout: ServerAction<Logout>,
) -> impl IntoView {
    let AdminView {
        tenant_name,
        tenant_slug,
        email,
        status_page_url,
        monitors,
        email_verified,
    } = view;
    view! {
        <header class="page-header">
            <h1>{tenant_name}" admin"</h1>
            <p class="muted">"Signed in as " {email} " · tenant " <code>{tenant_slug}</code> " · "
                <a href=status_page_url.clone()>{status_page_url.clone()}</a></p>
            <ActionForm action=logout><button type="submit" class="link">"Sign out"</button></ActionForm>
            <a href="/account/tenants">"Switch tenant"</a>
        </header>
        // Plain forms (web/src/server/account.rs): they work without JavaScript.
        {(!email_verified).then(|| view! {
            <section class="warning" data-unverified="">
                "Your address is not confirmed yet: follow the link we mailed you. Until an owner or admin has confirmed theirs, this tenant cannot send invitations. "
                <form method="post" action="/account/verify/resend"><button type="submit" class="link">"Send the link again"</button></form>
            </section>
        })}
        <section class="card">
            <h2>"Monitors"</h2>
            <table class="regions">
                <thead><tr><th>"Name"</th><th>"Target"</th><th>"Every"</th><th>"Status"</th><th>"Uptime (24h)"</th></tr></thead>
                <tbody>
                    {monitors.into_iter().map(|m| {
                        let name = m.name.clone();
                        view! {
                        <tr data-monitor=name>
                            <td>{m.name}</td><td><code>{m.target}</code></td><td>{format!("{} s", m.interval_seconds)}</td>
                            <td class=format!("status {}", m.status)>{m.status_label}</td><td>{m.uptime_24h}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </section>
        <section class="card">
            <h2>"Add an HTTP monitor"</h2>
            <ActionForm action=add>
                <label>"Name" <input name="name" required maxlength="100"/></label>
                <label>"URL" <input name="url" type="url" required placeholder="https://example.com/health"/></label>
                <button type="submit">"Add monitor"</button>
            </ActionForm>
            {move || add.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error">{error_text(&e)}</p> })}
        </section>
    }
}
