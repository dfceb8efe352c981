//! Pages and the server functions they call.

use crate::views::{AdminView, HomeView};
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

/// The landing page on the platform's own host (a tenant's host serves its public status site
/// at `/`, outside Leptos: [`crate::public`]).
#[server(prefix = "/rpc", endpoint = "home")]
pub async fn load_home() -> Result<HomeView, ServerFnError> {
    crate::server::pages::home_view().await
}

#[component]
fn HomePage() -> impl IntoView {
    let home = Resource::new(|| (), |_| load_home());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match home.await {
                    Ok(HomeView { base_domain }) => view! { <Landing base_domain/> }.into_any(),
                    Err(e) => view! { <section class="card"><h1>"Unavailable"</h1><p>{e.to_string()}</p></section> }.into_any(),
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

/// Adds a heartbeat monitor from the console form.
#[server(prefix = "/rpc", endpoint = "add_heartbeat")]
pub async fn add_heartbeat(
    name: String,
    period_seconds: String,
    cron: String,
    timezone: String,
    grace_seconds: String,
) -> Result<(), ServerFnError> {
    crate::server::pages::add_heartbeat(name, period_seconds, cron, timezone, grace_seconds).await
}

/// Pauses or resumes a monitor from the console.
#[server(prefix = "/rpc", endpoint = "set_monitor_enabled")]
pub async fn set_monitor_enabled(id: String, enabled: bool) -> Result<(), ServerFnError> {
    crate::server::pages::set_monitor_enabled(id, enabled).await
}

/// Deletes a monitor from the console (`confirm=yes`).
#[server(prefix = "/rpc", endpoint = "remove_monitor")]
pub async fn remove_monitor(id: String, confirm: Option<String>) -> Result<(), ServerFnError> {
    crate::server::pages::remove_monitor(id, confirm).await
}

#[component]
fn AdminPage() -> impl IntoView {
    let add = ServerAction::<AddMonitor>::new();
    let logout = ServerAction::<Logout>::new();
    let toggle = ServerAction::<SetMonitorEnabled>::new();
    let remove = ServerAction::<RemoveMonitor>::new();
    let add_beat = ServerAction::<AddHeartbeat>::new();
    let admin = Resource::new(
        move || {
            (
                add.version().get(),
                toggle.version().get(),
                remove.version().get(),
                add_beat.version().get(),
            )
        },
        |_| load_admin(),
    );
    view! {
        <Title text="Admin"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match admin.await {
                    Ok(view) => view! { <AdminBody view add logout toggle remove add_beat/> }.into_any(),
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
    toggle: ServerAction<SetMonitorEnabled>,
    remove: ServerAction<RemoveMonitor>,
    add_beat: ServerAction<AddHeartbeat>,
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
            " · "<a href="/admin/tokens">"API tokens"</a>
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
                <thead><tr><th>"Name"</th><th>"Target"</th><th>"Every"</th><th>"Status"</th><th>"Uptime (24h)"</th><th>"Actions"</th></tr></thead>
                <tbody>
                    {monitors.into_iter().map(|m| {
                        let name = m.name.clone();
                        let (id_toggle, id_remove) = (m.id.clone(), m.id.clone());
                        let toggle_label = format!("{} {}", if m.enabled { "Pause" } else { "Resume" }, m.name);
                        let remove_label = format!("Delete {}", m.name);
                        let beat_action = format!("/admin/monitors/{}/heartbeat-url", m.id);
                        let beat_label = format!("Get the ping URL of {}", m.name);
                        view! {
                        <tr data-monitor=name>
                            <td>{m.name}</td><td><code>{m.target}</code></td><td>{format!("{} s", m.interval_seconds)}</td>
                            <td class=format!("status {}", m.status)>{if m.enabled { m.status_label } else { "Paused".to_owned() }}</td><td>{m.uptime_24h}</td>
                            <td><div class="row-actions">
                                <ActionForm action=toggle>
                                    <input type="hidden" name="id" value=id_toggle/>
                                    <input type="hidden" name="enabled" value=if m.enabled { "false" } else { "true" }/>
                                    <button type="submit" aria-label=toggle_label>{if m.enabled { "Pause" } else { "Resume" }}</button>
                                </ActionForm>
                                {m.heartbeat.then(|| view! {
                                    // A plain post: the answer page shows the URL once.
                                    <form method="post" action=beat_action>
                                        <button type="submit" aria-label=beat_label>"Ping URL"</button>
                                    </form>
                                })}
                                <ActionForm action=remove>
                                    <input type="hidden" name="id" value=id_remove/>
                                    <label><input type="checkbox" name="confirm" value="yes" required/>" sure"</label>
                                    <button type="submit" aria-label=remove_label>"Delete"</button>
                                </ActionForm>
                            </div></td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
            {move || toggle.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
            {move || remove.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
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
        <section class="card">
            <h2>"Add a heartbeat monitor"</h2>
            <p class="muted">"For jobs no probe can reach: the job calls the monitor's URL (\"Ping URL\" above, once added); late by more than the grace, it is down."</p>
            <ActionForm action=add_beat>
                <label>"Name" <input name="name" required maxlength="100"/></label>
                <label>"Every (seconds)" <input name="period_seconds" inputmode="numeric" placeholder="3600"/></label>
                <label>"or at (cron)" <input name="cron" placeholder="0 3 * * *"/></label>
                <label>"Time zone of the cron" <input name="timezone" placeholder="UTC"/></label>
                <label>"Grace (seconds)" <input name="grace_seconds" inputmode="numeric" placeholder="60"/></label>
                <button type="submit">"Add heartbeat"</button>
            </ActionForm>
            {move || add_beat.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
        </section>
    }
}
