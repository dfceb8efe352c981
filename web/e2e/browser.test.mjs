// What a visitor's browser sees: headless Chromium (Debian's) driven by playwright-core against the
// real app server running the demo (local targets, seeded tenant, local checker runner).
// Run by `./dev test` (its `browser_tests` step builds the browser bundle and the server and
// provides the environment); screenshots of every step land in E2E_SCREENSHOTS (target/e2e).
//
// The public site's markup hooks are the contract in web/src/public (html.rs): banner, groups,
// components, 90-day bars, charts, history, incident pages, subscribe form, theme toggle, times.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set: run the browser tests with ./dev test`);
  return value;
};
const modules = need('STATUSPAGE_NODE_MODULES');
const require = createRequire(modules + '/');
const { chromium } = require('playwright-core');
const AXE = path.join(modules, 'axe-core', 'axe.min.js');

const freePort = () => new Promise((resolve, reject) => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
  server.on('error', reject);
});

let app, browser, port, logs = '';
const shots = need('E2E_SCREENSHOTS');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'statuspage-e2e-'));

before(async () => {
  port = await freePort();
  const targets = await freePort();
  app = spawn(need('STATUSPAGE_BIN'), ['demo'], {
    env: {
      ...process.env,
      STATUSPAGE_ADDR: `127.0.0.1:${port}`,
      DEMO_TARGETS_ADDR: `127.0.0.1:${targets}`,
      CHECKER_INTERVAL_SECS: '5',
      CHECKER_ALLOW_CIDRS: '127.0.0.0/8',
      // Changes made through the API show on the page within a few seconds.
      STATUSPAGE_RENDER_TTL_SECS: '2',
      STATUSPAGE_RENDER_DIR: path.join(scratch, 'renders'),
      STATUSPAGE_DATA: path.join(scratch, 'data'),
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  app.stdout.on('data', (d) => { logs += d; });
  app.stderr.on('data', (d) => { logs += d; });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (app.exitCode !== null) throw new Error(`app server exited early:\n${logs}`);
    if (Date.now() > deadline) throw new Error(`app server not healthy within 60 s:\n${logs}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (app && app.exitCode === null) {
    app.kill('SIGTERM');
    await new Promise((r) => app.once('exit', r));
  }
  fs.rmSync(scratch, { recursive: true, force: true });
});

/// Collects what must not happen on a page: script errors, CSP violations (Chromium reports each
/// on the console, and the page fires `securitypolicyviolation`, collected by an init script the
/// policy does not govern), and subresources of our own that fail.
function watch(page, { subresources = true } = {}) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('response', (r) => {
    const request = r.request();
    if (subresources && r.status() >= 400 && !request.isNavigationRequest()) {
      problems.push(`subresource ${request.resourceType()} ${r.url()} answered ${r.status()}`);
    }
  });
  page.on('requestfailed', (request) => {
    problems.push(`subresource ${request.url()} failed: ${request.failure()?.errorText}`);
  });
  return problems;
}

async function watchedPage(context, options) {
  const page = await (context ?? browser).newPage();
  const problems = watch(page, options);
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  return { page, problems };
}

/// The page was served under a Content-Security-Policy and the browser reports no violation
/// (the Leptos pages: sign-in and admin, with a fresh nonce per render).
async function assertNoCspViolations(page, response, problems) {
  const csp = response.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src [^;]*'nonce-/, `a nonced policy on ${page.url()}`);
  assert.match(csp, /frame-ancestors 'none'/);
  const violations = await page.evaluate(() => window.__cspViolations);
  assert.deepEqual([...problems.filter((p) => p.startsWith('CSP')), ...violations], [], 'no CSP violations');
}

/// The public site's pages are static bytes: their policy allows scripts from the site itself only
/// (no nonce, nothing inline), and the browser reports no violation.
async function assertSiteCsp(page, response, problems) {
  const csp = response.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'self'/, `script-src 'self' in the policy of ${page.url()}: ${csp}`);
  assert.doesNotMatch(csp, /script-src[^;]*'unsafe-(inline|eval)'/, `no unsafe script sources: ${csp}`);
  const violations = (await page.evaluate(() => window.__cspViolations)) ?? [];
  assert.deepEqual([...problems.filter((p) => p.startsWith('CSP')), ...violations], [], `no CSP violations on ${page.url()}`);
}

// ---------------------------------------------------------------------------------------------
// The visitor's journey on the demo tenant's page.

const DEVICES = [
  { name: 'desktop', viewport: { width: 1280, height: 800 }, isMobile: false },
  { name: 'mobile', viewport: { width: 390, height: 844 }, isMobile: true },
];
const STATUSES = ['operational', 'under_maintenance', 'degraded_performance', 'partial_outage', 'major_outage', 'unknown'];
const site = (p = '/') => `http://demo.localhost:${port}${p}`;
const demo = {};

/// A browser context as a visitor at `device` has it; `options` override (colorScheme, locale,
/// javaScriptEnabled, bypassCSP, timezoneId). India's zone is UTC+05:30, so converted times
/// differ from UTC in their minutes too.
async function visitor(device, options = {}) {
  const context = await browser.newContext({
    viewport: device.viewport,
    isMobile: device.isMobile,
    hasTouch: device.isMobile,
    locale: 'en-US',
    timezoneId: 'Asia/Kolkata',
    colorScheme: 'light',
    ...options,
  });
  // Waits for what is already on the page; the live page is awaited by openLive.
  context.setDefaultTimeout(10_000);
  return context;
}

async function shot(page, device, step) {
  await page.screenshot({ path: `${shots}/${device.name}-${step}.png`, fullPage: true });
}

/// The API as the demo tenant: a real API token, stored the way the platform stores tokens
/// (SHA-256 of the secret), for the seeded tenant in the test's own database.
function demoToken() {
  const token = `sp_${randomBytes(32).toString('base64url')}`;
  const sql = `INSERT INTO api_tokens (id, tenant_id, name, prefix, token_hash, scopes)
    SELECT gen_random_uuid(), id, 'browser tests', left(:'token', 9), sha256(convert_to(:'token', 'UTF8')),
           '{read,write,admin}'
    FROM tenants WHERE slug = 'demo' RETURNING id`;
  const out = execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-v', `token=${token}`, need('DATABASE_URL')],
    { input: sql, encoding: 'utf8' });
  assert.match(out.trim(), /^[0-9a-f-]{36}$/, `a token for the demo tenant (psql said: ${out})`);
  return token;
}

async function api(method, apiPath, body) {
  const res = await fetch(`http://127.0.0.1:${port}${apiPath}`, {
    method,
    headers: { authorization: `Bearer ${demo.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${apiPath}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/// Relative luminance of the page's background (body, else the root element), 0 black – 1 white.
/// Any CSS colour syntax: a canvas turns it into sRGB bytes.
const backgroundLuminance = (page) => page.evaluate(() => {
  const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  for (const el of [document.body, document.documentElement]) {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = getComputedStyle(el).backgroundColor;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    if (a > 0) {
      const lin = (c) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    }
  }
  return 1; // nothing painted: the browser's white canvas
});

/// Whether an element is really shown to a sighted visitor: a real box (not the 1 px of a
/// screen-reader-only text), visible, opaque, and horizontally inside the viewport.
const shown = (locator) => locator.evaluate((el) => {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return r.width >= 16 && r.height >= 8 && s.visibility !== 'hidden' && Number(s.opacity) > 0.1
    && r.left >= -1 && r.right <= document.documentElement.clientWidth + 1;
});

/// Presses Tab until the focused element matches `selector`; returns how many presses it took.
async function tabTo(page, selector, max = 400) {
  for (let i = 1; i <= max; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return i;
  }
  return assert.fail(`Tab never reached ${selector} on ${page.url()}`);
}

/// Opens the demo page and waits until the checks and our API changes show: Website up,
/// Legacy billing down, the group and the active incident on the page.
async function openLive(page, url = site('/')) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const response = await page.goto(url);
    const state = await page.evaluate((incident) => ({
      website: document.querySelector('article.component[data-component="Website"]')?.dataset.status,
      billing: document.querySelector('article.component[data-component="Billing"]')?.dataset.status,
      uptime: document.querySelector('article.component[data-component="Website"] .uptime')?.textContent ?? '',
      group: document.querySelectorAll('details.group').length,
      incident: !!document.querySelector(`article.incident[data-incident="${incident}"]`),
    }), demo.incident).catch(() => null);
    if (response?.ok() && state && state.website === 'operational' && ['partial_outage', 'major_outage'].includes(state.billing)
      && /\d/.test(state.uptime) && state.group > 0 && state.incident) {
      return response;
    }
    if (Date.now() > deadline) {
      assert.fail(`the demo page was not live within 90 s (HTTP ${response?.status()}, ${JSON.stringify(state)})\n${logs.slice(-4000)}`);
    }
    await page.waitForTimeout(1000);
  }
}

test('the demo tenant gets incidents through the API, once its checks are recorded', async () => {
  demo.token = demoToken();
  const components = (await api('GET', '/api/v1/components')).items;
  const byName = Object.fromEntries(components.map((c) => [c.name, c]));
  for (const name of ['Website', 'API', 'Billing']) assert.ok(byName[name], `the demo seeds component ${name}`);
  demo.components = byName;
  assert.ok(components.some((c) => c.group_id), 'the demo puts components in groups');
  // The page's first render fetches the response-time figures (kept for minutes): wait until
  // ClickHouse has every region's checks of the monitors behind Website and API.
  const monitors = (await api('GET', '/api/v1/monitors')).items;
  const deadline = Date.now() + 60_000;
  for (const name of ['Website', 'Checkout API']) {
    const monitor = monitors.find((m) => m.name === name);
    assert.ok(monitor, `the demo seeds monitor ${name}`);
    for (;;) {
      const analytics = await api('GET', `/api/v1/monitors/${monitor.id}/analytics?window=24h`);
      if (analytics.latency.length >= 3 && analytics.latency.every((r) => r.samples > 0)) break;
      if (Date.now() > deadline) assert.fail(`no checks of ${name} in ClickHouse within 60 s: ${JSON.stringify(analytics)}\n${logs.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const active = await api('POST', '/api/v1/incidents', {
    title: 'Checkout is slow',
    status: 'investigating',
    impact: 'minor',
    message: 'Payments take longer than usual; we are looking into it.',
    components: [{ component_id: byName.API.id, status: 'degraded_performance' }],
  });
  await api('POST', `/api/v1/incidents/${active.id}/updates`, {
    status: 'identified',
    message: 'A slow database query is the cause; a fix is being deployed.',
  });
  demo.incident = active.id;
  demo.incidentTitle = active.title;
  // A resolved incident that began 40 days ago: the history shows it under its month.
  const startedAt = new Date(Date.now() - 40 * 86_400_000);
  const old = await api('POST', '/api/v1/incidents', {
    title: 'Login outage',
    status: 'resolved',
    impact: 'major',
    message: 'Sign-ins failed for twenty minutes after a certificate expired; renewed.',
    components: [{ component_id: byName.Website.id, status: 'major_outage' }],
    started_at: startedAt.toISOString(),
  });
  demo.oldIncident = old.id;
  demo.oldMonth = startedAt.toISOString().slice(0, 7);
});

for (const device of DEVICES) {
  describe(`the visitor's journey, ${device.name} (${device.viewport.width}×${device.viewport.height})`, () => {
    test('the page: banner, groups, components, 90-day bars with details on focus, uptime, chart, phases', async () => {
      assert.ok(demo.incident, 'the API setup ran');
      const context = await visitor(device);
      try {
        const { page, problems } = await watchedPage(context);
        let script = 0;
        page.on('response', (r) => { if (new URL(r.url()).pathname === '/_assets/page.js' && r.ok()) script += 1; });
        const response = await openLive(page);
        await page.waitForLoadState('networkidle');
        assert.equal(await page.getAttribute('html', 'lang'), 'en');
        assert.ok(script >= 1, 'the page script was loaded');
        assert.ok(await backgroundLuminance(page) > 0.6, 'a light background in light mode');

        // Banner and the skip link (the first Tab stop, shown when focused).
        const banner = page.locator('section.banner');
        assert.ok(STATUSES.includes(await banner.getAttribute('data-status')), 'the banner names a page status');
        assert.match(await banner.innerText(), /\S/);
        await page.keyboard.press('Tab');
        assert.ok(await page.evaluate(() => document.activeElement?.matches('a.skip-link[href="#main"]')), 'the skip link comes first');
        assert.ok(await shown(page.locator('a.skip-link')), 'the focused skip link is visible');
        assert.equal(await page.locator('main#main').count(), 1);

        // Components with their status, inside groups; a group collapses and opens again.
        const names = await page.locator('article.component').evaluateAll((els) => els.map((e) => e.dataset.component));
        for (const name of ['Website', 'API', 'Billing']) assert.ok(names.includes(name), `component ${name} is shown (${names})`);
        for (const name of names) {
          const component = page.locator(`article.component[data-component="${name}"]`);
          assert.ok(STATUSES.includes(await component.getAttribute('data-status')), `${name} has a page status`);
          assert.match(await component.locator('.component-status').innerText(), /\S/, `${name} shows its status`);
          assert.equal(await component.locator('ol.bars > li.bar').count(), 90, `${name} has 90 day bars`);
        }
        assert.equal(await page.locator('article.component[data-component="Website"] .component-status').innerText(), 'Operational');
        const group = page.locator('details.group').first();
        assert.equal(await group.getAttribute('open'), '', 'groups start open');
        const inGroup = group.locator('article.component').first();
        assert.ok(await inGroup.isVisible());
        await group.locator(':scope > summary').click();
        assert.equal(await group.getAttribute('open'), null, 'a click on the summary collapses the group');
        assert.ok(await inGroup.isHidden(), 'its components are hidden');
        await group.locator(':scope > summary').click();
        assert.ok(await inGroup.isVisible(), 'and shown again');

        // Uptime over the page's window.
        const uptime = page.locator('article.component[data-component="Website"] .uptime');
        assert.match(await uptime.getAttribute('data-window'), /^(24h|7d|30d|90d)$/);
        assert.match(await uptime.innerText(), /^\d{1,3}([.,]\d+)?\s?%$/);

        // Bars: the detail shows on keyboard focus (and hover), inside the viewport.
        const bars = page.locator('article.component[data-component="Website"] li.bar');
        const today = bars.last();
        assert.equal(await today.getAttribute('data-day'), new Date().toISOString().slice(0, 10), 'the last bar is today (UTC)');
        assert.match(await today.getAttribute('data-status'), /^(up|degraded|down)$/, 'today has checks');
        assert.equal(await bars.first().getAttribute('tabindex'), '0');
        await tabTo(page, 'article.component[data-component="Website"] li.bar');
        const focused = page.locator('li.bar:focus');
        assert.equal(await focused.getAttribute('data-day'), await bars.first().getAttribute('data-day'), 'Tab reaches the oldest bar first');
        assert.ok(await shown(focused.locator('.bar-detail')), 'the focused bar shows its detail, inside the viewport');
        assert.equal(await shown(today.locator('.bar-detail')), false, 'other bars keep theirs hidden');
        for (let i = 1; i < 90; i += 1) await page.keyboard.press('Tab');
        assert.equal(await page.locator('li.bar:focus').getAttribute('data-day'), await today.getAttribute('data-day'), 'Tab walks the bars in order');
        assert.ok(await shown(today.locator('.bar-detail')), "today's detail shows on focus, inside the viewport");
        assert.match(await today.locator('.bar-detail').innerText(), /\d([.,]\d+)?\s?%/, "today's detail gives the uptime");
        await shot(page, device, 'page-bar-focused');
        if (!device.isMobile) {
          await page.locator('h1, header').first().focus().catch(() => {});
          await bars.nth(60).hover();
          assert.ok(await shown(bars.nth(60).locator('.bar-detail')), 'hover shows a bar\'s detail');
        }

        // The response-time chart (server-rendered SVG) and its periods.
        const chart = page.locator('article.component[data-component="Website"] figure.chart').first();
        assert.equal(await chart.getAttribute('data-period'), '24h');
        assert.equal(await chart.locator('svg[role="img"]').count(), 1, 'an inline SVG chart');
        assert.match(await chart.locator('svg > title').textContent(), /\S/, 'the chart has a title');
        assert.ok(await chart.locator('svg path, svg polyline').count() >= 1, 'the chart draws its series');

        // The phase breakdown on demand.
        const phases = page.locator('article.component[data-component="Website"] details.phases').first();
        assert.equal(await phases.getAttribute('open'), null, 'the phase breakdown starts closed');
        assert.ok(await phases.locator('table').isHidden());
        await phases.locator(':scope > summary').click();
        assert.equal(await phases.getAttribute('open'), '');
        assert.ok(await phases.locator('table').isVisible(), 'opening it shows the table');
        await shot(page, device, 'page');
        await assertSiteCsp(page, response, problems);

        await page.locator('nav.periods a[href="?period=7d"]').first().click();
        await page.waitForURL(/[?&]period=7d/);
        assert.equal(await page.locator('article.component[data-component="Website"] figure.chart').first().getAttribute('data-period'), '7d');
        assert.equal(await page.locator('nav.periods a[href="?period=7d"]').first().getAttribute('aria-current'), 'page');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });

    test('active incident, incident history by month and the incident page', async () => {
      assert.ok(demo.incident, 'the API setup ran');
      const context = await visitor(device);
      try {
        const { page, problems } = await watchedPage(context);
        await openLive(page);
        const active = page.locator(`section.incidents article.incident[data-incident="${demo.incident}"]`);
        assert.equal(await active.getAttribute('data-status'), 'identified', 'the latest update sets the status');
        assert.ok(await active.locator('ol.timeline > li').count() >= 2, 'the timeline shows both updates');

        const history = await page.goto(site('/history'));
        assert.equal(history.status(), 200);
        const thisMonth = new Date().toISOString().slice(0, 7);
        assert.equal(await page.locator(`section.month[data-month="${thisMonth}"] article.incident[data-incident="${demo.incident}"]`).count(), 1,
          'the active incident is under this month');
        assert.equal(await page.locator(`section.month[data-month="${demo.oldMonth}"] article.incident[data-incident="${demo.oldIncident}"]`).count(), 1,
          'the resolved one is under the month it began');
        const months = await page.locator('section.month').evaluateAll((els) => els.map((e) => e.dataset.month));
        assert.deepEqual(months, [...months].sort().reverse(), 'newest month first');
        await shot(page, device, 'history');
        await assertSiteCsp(page, history, problems);

        await page.locator(`article.incident[data-incident="${demo.incident}"] a[href="/incidents/${demo.incident}"]`).first().click();
        await page.waitForURL(site(`/incidents/${demo.incident}`));
        assert.match(await page.locator('h1').innerText(), /Checkout is slow/);
        assert.ok(await page.locator('ol.timeline > li').count() >= 2);
        assert.match(await page.locator('main').innerText(), /slow database query/);
        assert.ok(await page.locator('time[datetime]').count() >= 2, 'the updates carry their times');
        await shot(page, device, 'incident');
        const again = await page.reload();
        await assertSiteCsp(page, again, problems);

        const unknown = await page.goto(site(`/incidents/${randomUUID()}`));
        assert.equal(unknown.status(), 404, 'an unknown incident is a 404');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });

    test('subscribe: fill the form, submit, see the confirmation', async () => {
      const context = await visitor(device);
      try {
        const { page, problems } = await watchedPage(context);
        await page.goto(site('/'));
        const form = page.locator('form.subscribe');
        assert.equal(await form.getAttribute('method'), 'post');
        assert.equal(await form.getAttribute('action'), '/_status-page/subscribe');
        await form.locator('input[type="email"]').fill(`visitor-${device.name}@example.com`);
        const [posted] = await Promise.all([
          page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/_status-page/subscribe'),
          form.locator('button[type="submit"], input[type="submit"]').first().click(),
        ]);
        assert.equal(posted.status(), 200, 'the subscription is accepted');
        await page.waitForLoadState();
        assert.match(await page.locator('h1').innerText(), /Check your inbox/);
        await shot(page, device, 'subscribed');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });

    test('dark mode: the system preference, then the toggle, which persists', async () => {
      const context = await visitor(device, { colorScheme: 'dark' });
      try {
        const { page, problems } = await watchedPage(context);
        const response = await page.goto(site('/'));
        assert.ok(await backgroundLuminance(page) < 0.2, 'a dark background when the system prefers dark');
        await shot(page, device, 'dark');
        const toggle = page.locator('#theme-toggle');
        await toggle.waitFor({ state: 'visible' });
        const before = await page.evaluate(() => document.documentElement.dataset.theme
          || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
        assert.equal(before, 'dark');
        await toggle.click();
        assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light', 'the toggle flips the theme');
        assert.ok(await backgroundLuminance(page) > 0.6, 'and the page turns light');
        await page.reload();
        assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light', 'the choice persists on reload');
        assert.ok(await backgroundLuminance(page) > 0.6);
        await shot(page, device, 'dark-toggled-light');
        await page.locator('#theme-toggle').click();
        assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
        assert.ok(await backgroundLuminance(page) < 0.2);
        await assertSiteCsp(page, response, problems);
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });

    test('another language: Accept-Language and ?lang=', async () => {
      const english = await visitor(device);
      const german = await visitor(device, { locale: 'de-DE', timezoneId: 'Europe/Berlin' });
      try {
        const en = await watchedPage(english);
        const de = await watchedPage(german);
        await en.page.goto(site('/'));
        const response = await de.page.goto(site('/'));
        assert.equal(await de.page.getAttribute('html', 'lang'), 'de', 'Accept-Language: de-DE picks German');
        const bannerEn = await en.page.locator('section.banner').innerText();
        const bannerDe = await de.page.locator('section.banner').innerText();
        assert.notEqual(bannerDe, bannerEn, 'the banner is translated');
        const statusEn = await en.page.locator('article.component[data-component="Website"] .component-status').innerText();
        const statusDe = await de.page.locator('article.component[data-component="Website"] .component-status').innerText();
        assert.notEqual(statusDe, statusEn, 'component statuses are translated');
        await shot(de.page, device, 'german');
        await assertSiteCsp(de.page, response, de.problems);

        assert.ok(await en.page.locator('nav.languages a[href*="lang=de"]').count() >= 1, 'a link to the German page');
        await en.page.locator('nav.languages a[href*="lang=de"]').first().click();
        await en.page.waitForURL(/[?&]lang=de/);
        assert.equal(await en.page.getAttribute('html', 'lang'), 'de', '?lang=de overrides Accept-Language');
        assert.equal(await en.page.locator('section.banner').innerText(), bannerDe);
        await de.page.goto(site('/?lang=en'));
        assert.equal(await de.page.getAttribute('html', 'lang'), 'en');
        assert.equal(await de.page.locator('section.banner').innerText(), bannerEn);
        await de.page.goto(site('/history'));
        assert.equal(await de.page.getAttribute('html', 'lang'), 'de', 'the history is German too');
        assert.deepEqual([...en.problems, ...de.problems], []);
      } finally {
        await english.close();
        await german.close();
      }
    });

    test("times are shown in the visitor's zone", async () => {
      const context = await visitor(device);
      try {
        const { page, problems } = await watchedPage(context);
        await page.goto(site(`/incidents/${demo.incident}`));
        // Times of day (datetime with a `T`); plain days stay as they are.
        await page.waitForFunction(() => {
          const times = [...document.querySelectorAll('time[datetime*="T"]')];
          return times.length > 0 && times.every((t) => t.dataset.local === '1');
        }, null, { timeout: 10_000 });
        const times = await page.locator('time[datetime*="T"]').evaluateAll((els) => els.map((t) => ({
          datetime: t.getAttribute('datetime'), text: t.textContent,
        })));
        let checked = 0;
        for (const { datetime, text } of times) {
          assert.doesNotMatch(text, /UTC/, `converted: ${text}`);
          const at = new Date(datetime);
          assert.ok(!Number.isNaN(at.getTime()), `an ISO 8601 datetime: ${datetime}`);
          if (/\d:\d\d/.test(text)) {
            // Asia/Kolkata is UTC+05:30: the minutes move by 30.
            const minutes = String((at.getUTCMinutes() + 30) % 60).padStart(2, '0');
            assert.match(text, new RegExp(`:${minutes}\\b`), `${datetime} in Asia/Kolkata: ${text}`);
            checked += 1;
          }
        }
        assert.ok(checked >= 1, 'at least one time of day was converted');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });

    test('without JavaScript: components, bar details, UTC times, no toggle, groups and subscribe work', async () => {
      const context = await visitor(device, { javaScriptEnabled: false });
      try {
        const page = await context.newPage();
        const problems = watch(page);
        const response = await page.goto(site('/'));
        assert.equal(response.status(), 200);
        assert.ok(await page.locator('article.component').count() >= 3, 'the components are shown');
        const details = page.locator('li.bar .bar-detail');
        const components = await page.locator('article.component').count();
        assert.equal(await details.count(), 90 * components, 'every bar carries its detail in the HTML');
        const texts = await details.allTextContents();
        assert.ok(texts.every((t) => /\S/.test(t)), 'no empty detail');
        await tabTo(page, 'li.bar');
        assert.ok(await shown(page.locator('li.bar:focus .bar-detail')), 'focus shows the detail without JavaScript');

        const times = await page.locator('time[datetime]').evaluateAll((els) => els.map((t) => ({
          text: t.textContent, local: t.dataset.local, datetime: t.getAttribute('datetime'),
        })));
        assert.ok(times.length >= 1, 'the page has times');
        assert.ok(times.some((t) => t.datetime.includes('T')), 'the page has times of day');
        for (const t of times) {
          assert.equal(t.local, undefined);
          if (t.datetime.includes('T')) {
            assert.match(t.datetime, /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?(\.\d+)?Z$/, `ISO 8601 UTC: ${t.datetime}`);
            assert.match(t.text, /UTC/, `a UTC time without JavaScript: ${t.text}`);
          } else {
            assert.match(t.datetime, /^\d{4}-\d\d-\d\d$/, `a plain day: ${t.datetime}`);
          }
        }
        assert.ok(await page.locator('#theme-toggle').isHidden(), 'the theme toggle stays hidden');

        const group = page.locator('details.group').first();
        await group.locator(':scope > summary').click();
        assert.equal(await group.getAttribute('open'), null, 'groups collapse without JavaScript');
        await group.locator(':scope > summary').click();
        assert.equal(await group.getAttribute('open'), '');
        await shot(page, device, 'no-js');

        await page.locator('form.subscribe input[type="email"]').fill(`no-js-${device.name}@example.com`);
        const [posted] = await Promise.all([
          page.waitForNavigation(),
          page.locator('form.subscribe').locator('button[type="submit"], input[type="submit"]').first().click(),
        ]);
        assert.equal(posted.status(), 200, 'the plain form posts');
        assert.equal(new URL(page.url()).pathname, '/_status-page/subscribe');
        assert.match(await page.locator('h1').innerText(), /Check your inbox/);
        await shot(page, device, 'no-js-subscribed');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });

    test('accessibility (axe-core): no serious or critical findings, light and dark', async () => {
      assert.ok(demo.incident, 'the API setup ran');
      // The pages forbid inline scripts; axe is injected as one, so this context bypasses the
      // policy (the other tests check it).
      const context = await visitor(device, { bypassCSP: true });
      try {
        const page = await context.newPage();
        const problems = watch(page);
        const findings = [];
        for (const scheme of ['light', 'dark']) {
          await page.emulateMedia({ colorScheme: scheme });
          for (const p of ['/', '/history', `/incidents/${demo.incident}`]) {
            await page.goto(site(p));
            await page.waitForLoadState('networkidle');
            await page.addScriptTag({ path: AXE });
            const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
            for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
              findings.push(`${scheme} ${p}: [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length} nodes, e.g. ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')})`);
            }
          }
        }
        assert.deepEqual(findings, [], 'axe-core finds nothing serious or critical');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The platform's own pages.

test('sign-in errors show in place (hydrated form), then the admin adds a monitor', async () => {
  // The refused sign-in (401) and the refused monitor (500) are server functions' answers.
  const { page, problems } = await watchedPage(undefined, { subresources: false });
  const login = await page.goto(`http://localhost:${port}/login`);
  await page.waitForLoadState('networkidle');
  await assertNoCspViolations(page, login, problems);
  await page.fill('input[name=email]', 'demo@example.com');
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('button[type=submit]');
  await page.locator('p.error').waitFor();
  assert.equal(await page.locator('p.error').textContent(), 'wrong email or password');
  assert.equal(new URL(page.url()).pathname, '/login', 'no full-page navigation: the form is hydrated');

  await page.fill('input[name=password]', 'demo-password');
  await page.click('button[type=submit]');
  await page.waitForURL(`http://localhost:${port}/admin`);
  await page.locator('h1', { hasText: 'Demo Inc admin' }).waitFor();
  const before = await page.locator('tr[data-monitor]').count();
  await page.fill('input[name=name]', 'Added from the browser');
  await page.fill('input[name=url]', `http://127.0.0.1:${port}/api/v1/health`);
  await page.click('text=Add monitor');
  await page.locator('tr[data-monitor="Added from the browser"]').waitFor();
  assert.equal(await page.locator('tr[data-monitor]').count(), before + 1);

  await page.fill('input[name=name]', 'Bad one');
  await page.fill('input[name=url]', 'ftp://example.com/');
  await page.evaluate(() => document.querySelector('input[name=url]').setAttribute('type', 'text'));
  await page.click('text=Add monitor');
  await page.locator('p.error', { hasText: 'url:' }).waitFor();
  await page.screenshot({ path: `${shots}/admin.png`, fullPage: true });
  const admin = await page.reload();
  await page.locator('tr[data-monitor="Added from the browser"]').waitFor();
  await assertNoCspViolations(page, admin, problems);
  assert.deepEqual(problems, []);
  await page.close();
});

test('an unknown subdomain gets the 404 page', async () => {
  const { page } = await watchedPage();
  const response = await page.goto(`http://nobody.localhost:${port}/`);
  assert.equal(response.status(), 404);
  assert.match(await page.locator('h1').textContent(), /no status page at nobody\.localhost/);
  await page.close();
});

test('sign-in and admin are not served on a tenant host', async () => {
  const { page } = await watchedPage();
  for (const p of ['/login', '/admin']) {
    const response = await page.goto(`http://demo.localhost:${port}${p}`);
    assert.equal(response.status(), 404, p);
  }
  await page.close();
});

test('screenshots were written', () => {
  for (const device of DEVICES) {
    for (const step of ['page', 'history', 'incident', 'subscribed', 'dark', 'german', 'no-js']) {
      const file = `${shots}/${device.name}-${step}.png`;
      assert.ok(fs.existsSync(file) && fs.statSync(file).size > 10_000, `${file} was written`);
    }
  }
  assert.ok(fs.statSync(`${shots}/admin.png`).size > 10_000);
});
