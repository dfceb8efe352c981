// The status page's script. The page works without it; with it: the visitor's stored theme
// choice and a toggle, times in the visitor's zone, an explicit ?lang= kept on the site's
// links, and the content refreshed every 30 seconds. Loaded in <head> without `defer` so the
// stored theme applies before the first paint; everything else waits for the document.
(function () {
  'use strict';

  var root = document.documentElement;
  var THEME_KEY = 'statuspage-theme';
  var REFRESH_MS = 30000;

  function storedTheme() {
    try {
      var value = window.localStorage.getItem(THEME_KEY);
      return value === 'dark' || value === 'light' ? value : null;
    } catch (e) {
      return null;
    }
  }

  var stored = storedTheme();
  if (stored) {
    root.dataset.theme = stored;
  }

  var darkQuery = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

  function effectiveTheme() {
    if (root.dataset.theme === 'dark' || root.dataset.theme === 'light') {
      return root.dataset.theme;
    }
    return darkQuery && darkQuery.matches ? 'dark' : 'light';
  }

  function initThemeToggle() {
    var button = document.getElementById('theme-toggle');
    if (!button) {
      return;
    }
    var sync = function () {
      button.setAttribute('aria-pressed', effectiveTheme() === 'dark' ? 'true' : 'false');
    };
    button.addEventListener('click', function () {
      var next = effectiveTheme() === 'dark' ? 'light' : 'dark';
      root.dataset.theme = next;
      try {
        window.localStorage.setItem(THEME_KEY, next);
      } catch (e) {
        // Private mode: the choice lasts for this page only.
      }
      sync();
    });
    if (darkQuery && darkQuery.addEventListener) {
      darkQuery.addEventListener('change', sync);
    }
    sync();
    button.hidden = false;
  }

  // Times: `<time datetime="2026-12-01T12:00:00Z">2026-12-01 12:00 UTC</time>` into the
  // visitor's zone, in the page's language. Plain days (`2026-12-01`) stay as they are.
  var timeFormat = null;
  function formatter() {
    if (timeFormat === null) {
      try {
        timeFormat = new Intl.DateTimeFormat(root.lang || undefined, {
          year: 'numeric',
          month: 'short',
          day: 'numeric',
          hour: '2-digit',
          minute: '2-digit',
          timeZoneName: 'short'
        });
      } catch (e) {
        timeFormat = false;
      }
    }
    return timeFormat;
  }

  function localizeTimes(scope) {
    var format = formatter();
    if (!format) {
      return;
    }
    var times = scope.querySelectorAll('time[datetime]');
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var value = el.getAttribute('datetime');
      if (el.dataset.local === '1' || value.indexOf('T') < 0) {
        continue;
      }
      var date = new Date(value);
      if (isNaN(date.getTime())) {
        continue;
      }
      el.title = el.textContent;
      el.textContent = format.format(date);
      el.dataset.local = '1';
    }
  }

  // A visitor who chose a language with ?lang= keeps it on the site's own page links.
  function pageLang() {
    try {
      return new URL(window.location.href).searchParams.get('lang');
    } catch (e) {
      return null;
    }
  }

  function isPagePath(path) {
    return path === '/' || path === '/history' || path.indexOf('/incidents/') === 0;
  }

  function keepLanguage(scope) {
    var lang = pageLang();
    if (!lang) {
      return;
    }
    var links = scope.querySelectorAll('a[href]');
    for (var i = 0; i < links.length; i++) {
      var href = links[i].getAttribute('href');
      if (href.charAt(0) !== '?' && !(href.charAt(0) === '/' && href.charAt(1) !== '/')) {
        continue;
      }
      var url;
      try {
        url = new URL(href, window.location.href);
      } catch (e) {
        continue;
      }
      if (url.origin !== window.location.origin || !isPagePath(url.pathname) || url.searchParams.has('lang')) {
        continue;
      }
      url.searchParams.set('lang', lang);
      links[i].setAttribute('href', url.pathname + url.search + url.hash);
    }
  }

  // Refresh: fetch the same address every 30 s; swap <main> when it changed, but never while
  // the visitor is in a form or has focus inside the content.
  var lastMain = null;

  function busy(main) {
    var active = document.activeElement;
    if (!active || active === document.body || active === main) {
      return false;
    }
    return !!(active.closest && (active.closest('form') || main.contains(active)));
  }

  function openDetails(main) {
    var state = {};
    var all = main.querySelectorAll('details');
    for (var i = 0; i < all.length; i++) {
      state[detailsKey(all[i], i)] = all[i].open;
    }
    return state;
  }

  function detailsKey(el, index) {
    var component = el.closest('[data-component]');
    return (el.dataset.group || '') + '|' + (component ? component.dataset.component : '') + '|' +
      el.className + '|' + (el.dataset.group ? '' : index);
  }

  function refresh() {
    var main = document.getElementById('main');
    if (!main || document.hidden || busy(main) || !window.fetch || !window.DOMParser) {
      return;
    }
    window.fetch(window.location.href, {
      credentials: 'same-origin',
      cache: 'no-cache',
      headers: { Accept: 'text/html' }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error('status ' + response.status);
      }
      return response.text();
    }).then(function (text) {
      var doc = new DOMParser().parseFromString(text, 'text/html');
      var next = doc.getElementById('main');
      if (!next || next.innerHTML === lastMain || busy(main)) {
        return;
      }
      var open = openDetails(main);
      lastMain = next.innerHTML;
      main.innerHTML = next.innerHTML;
      var details = main.querySelectorAll('details');
      for (var i = 0; i < details.length; i++) {
        var key = detailsKey(details[i], i);
        if (Object.prototype.hasOwnProperty.call(open, key)) {
          details[i].open = open[key];
        }
      }
      var updated = doc.querySelector('time.updated');
      var current = document.querySelector('time.updated');
      if (updated && current) {
        current.replaceWith(document.importNode(updated, true));
      }
      if (doc.title) {
        document.title = doc.title;
      }
      enhance(document);
    }).catch(function () {
      // Offline or the server is away: keep what is shown.
    });
  }

  function enhance(scope) {
    localizeTimes(scope);
    keepLanguage(scope);
  }

  function start() {
    var main = document.getElementById('main');
    if (main) {
      lastMain = main.innerHTML;
    }
    initThemeToggle();
    enhance(document);
    if (main) {
      window.setInterval(refresh, REFRESH_MS);
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
