/*! Switchboard chat widget loader - see docs/widget.md */
(function (w, d) {
  'use strict';
  var S = w.Switchboard;
  if (S && S._sb) return; // loaded twice
  var me = d.currentScript, ss, i;
  if (!me || !/widget\.js/.test(me.src)) {
    ss = d.querySelectorAll('script[src]');
    for (i = ss.length; i--;) if (/widget\.js([?#]|$)/.test(ss[i].src)) { me = ss[i]; break; }
  }
  var src = me ? me.src : '', qs = (src.match(/\?[^#]*/) || [''])[0];
  var dir = src.replace(/[?#].*$/, '').replace(/[^/]*$/, '');
  // API base: the script's directory ("/static/" stripped), no trailing slash
  var base = dir.replace(/\/static\/$/, '/').replace(/\/$/, '');
  var q = (S && S.q) || [], L = {}, st = null, wantOpen = false, chatF, chatW = [], loading;

  function ls(k, v) {
    try {
      var s = w.localStorage;
      if (v === undefined) return s.getItem(k);
      v === null ? s.removeItem(k) : s.setItem(k, v);
    } catch (e) {}
    return null;
  }
  function el(t, c, p) { var e = d.createElement(t); if (c) e.className = c; if (p) p.appendChild(e); return e; }
  function at(e, a) { for (var k in a) e.setAttribute(k, a[k]); return e; }
  function svg(p, c) {
    var n = 'http://www.w3.org/2000/svg', s = d.createElementNS(n, 'svg');
    at(s, { viewBox: '0 0 24 24', 'aria-hidden': 'true', 'class': c || '' });
    s.appendChild(d.createElementNS(n, 'path')).setAttribute('d', p);
    return s;
  }
  // constructable stylesheets are not blocked by a strict style-src CSP; <style> is the fallback
  function css(r, t) {
    try { var c = new CSSStyleSheet(); c.replaceSync(t); r.adoptedStyleSheets = r.adoptedStyleSheets.concat(c); }
    catch (e) { el('style', '', r).textContent = t; }
  }
  function emit(ev, a) {
    (L[ev] || []).slice().forEach(function (f) { try { f(a); } catch (e) { console.error(e); } });
  }
  function warn(m) { console.warn('Switchboard: ' + m); }

  var CSS = ':host{all:initial!important;display:block!important;position:fixed!important;right:0!important;bottom:0!important;width:0!important;height:0!important;z-index:2147483000!important;overflow:visible!important}' +
    '.sb{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;--bg:#fff;--fg:#1f2328;--mu:#6b7280;--bu:#f0f2f5;--ln:#e5e7eb;-webkit-font-smoothing:antialiased;text-align:left}' +
    '.sb *{box-sizing:border-box}[hidden]{display:none!important}' +
    'button{font:inherit;color:inherit;background:none;border:0;margin:0;padding:0;cursor:pointer}' +
    '.lch{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;background:var(--c);color:var(--cf);box-shadow:0 4px 18px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;transition:transform .15s}' +
    '.lch:hover{transform:scale(1.06)}.lch:focus-visible,.sb :focus-visible{outline:3px solid var(--c);outline-offset:2px}' +
    '.lch svg{width:28px;height:28px;fill:currentColor}.lch .i2,.open .lch .i1{display:none}.open .lch .i2{display:block}' +
    '.bdg{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#e11d48;color:#fff;font:600 12px/20px system-ui,sans-serif;text-align:center;box-shadow:0 0 0 2px #fff}' +
    '@media (prefers-color-scheme:dark){.sb{color:#e6e8eb;--bg:#1c1d22;--fg:#e6e8eb;--mu:#9aa1ab;--bu:#2b2d35;--ln:#33363f}}' +
    '@media (max-width:480px){.open .lch{display:none}}' +
    '@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}';
  var ICHAT = 'M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z';
  var ICLOSE = 'M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z';

  function api(c, a, b) {
    switch (c) {
      case 'boot': return boot(a || {});
      case 'identify':
        if (!st || !a) return;
        st.o.user = a;
        if (st.cfg && !st.root) mount(st);
        else if (st.root) loadChat(st).then(function (x) { x && x.identify(); });
        return;
      case 'open': case 'close': case 'toggle':
        return setOpen(c == 'open' || (c == 'toggle' && !(st ? st.open : wantOpen)));
      case 'shutdown': return shutdown(1);
      case 'page': if (st && st.chat) st.chat.page(); return;
      case 'on': if (typeof b == 'function') (L[a] = L[a] || []).push(b); return;
      case 'off': L[a] = (L[a] || []).filter(function (f) { return f !== b; }); return;
      case '_chat': chatF = a; chatW.splice(0).forEach(function (f) { f(a); }); return;
      default: warn('unknown command ' + c);
    }
  }
  api._sb = 1;

  function boot(o) {
    if (st) shutdown(0);
    var inbox = o.inbox || (me && me.getAttribute('data-inbox'));
    if (!inbox) return warn('boot needs {inbox: "wt_\u2026"}');
    var s = st = { inbox: inbox, o: o, K: 'switchboard:' + inbox, open: false };
    // never resume another identified user's conversation
    var uid = ls(s.K + ':uid'), u = o.user && o.user.user_id != null ? String(o.user.user_id) : null;
    if (uid !== null && uid !== u) forget(s.K);
    if (o.open) wantOpen = true;
    var n = 0;
    (function load() {
      fetch(base + '/api/v1/widget/config?inbox=' + encodeURIComponent(inbox)).then(function (r) {
        if (s !== st) return;
        if (r.status == 403) return warn('this website (' + location.origin + ') is not an allowed origin of inbox ' + inbox + '; add it to the inbox\'s allowed origins. The widget stays hidden.');
        if (r.status == 404) return warn('unknown inbox ' + inbox);
        if (!r.ok) throw Error('HTTP ' + r.status);
        return r.json().then(function (cfg) { if (s === st) { s.cfg = cfg; mount(s); } });
      }).catch(function (e) {
        if (s !== st) return;
        if (n++ < 6) setTimeout(load, 2000 * n); else warn('could not load the widget config (' + e + ')');
      });
    })();
  }

  function mount(s) {
    if (s !== st || s.root) return;
    if (!d.body) return d.addEventListener('DOMContentLoaded', function () { mount(s); });
    var cfg = s.cfg, o = s.o;
    if (cfg.identity_required && !(o.user && o.user.user_hash)) return warn('this inbox requires identity verification: boot with user {user_id, user_hash}. The widget stays hidden.');
    var h = s.host = el('div'), r = s.root = h.attachShadow({ mode: 'open' }), c = ((cfg.inbox || {}).color || '');
    h.id = 'switchboard-widget';
    css(r, CSS);
    var x = s.wrap = el('div', 'sb', r);
    if (!/^#[0-9a-f]{6}$/i.test(c)) c = '#2563eb';
    var v = parseInt(c.slice(1), 16), lum = .299 * (v >> 16) + .587 * (v >> 8 & 255) + .114 * (v & 255);
    x.style.setProperty('--c', c);
    x.style.setProperty('--cf', lum > 170 ? '#111' : '#fff');
    var b = s.btn = at(el('button', 'lch', x), { type: 'button', 'data-testid': 'launcher', 'aria-haspopup': 'dialog', 'aria-expanded': 'false' });
    b.appendChild(svg(ICHAT, 'i1'));
    b.appendChild(svg(ICLOSE, 'i2'));
    s.badge = at(el('span', 'bdg', b), { 'data-testid': 'badge', 'aria-hidden': 'true' });
    b.onclick = function () { setOpen(!s.open); };
    b.hidden = !!o.hide_launcher;
    s.unread = -1;
    setUnread(s, +ls(s.K + ':unread') || 0);
    d.body.appendChild(h);
    // a stored session (or an identified user): load the chat now for live unread counts
    if (ls(s.K) || (o.user && o.user.user_id != null)) loadChat(s);
    if (wantOpen) setOpen(true);
  }

  function setUnread(s, n) {
    if (s !== st || n === s.unread) return;
    s.unread = n;
    s.badge.textContent = n > 99 ? '99+' : n;
    s.badge.hidden = !n;
    label(s);
    ls(s.K + ':unread', n ? String(n) : null);
    emit('unread', n);
  }
  function label(s) {
    var n = s.unread;
    s.btn.setAttribute('aria-label', (s.open ? 'Close chat' : 'Open chat') + (n ? ', ' + n + ' unread message' + (n > 1 ? 's' : '') : ''));
  }

  function setOpen(v) {
    var s = st;
    if (!s || !s.root) { wantOpen = v; return; }
    if (s.open === v) return;
    var had = s.root.activeElement;
    s.open = v;
    wantOpen = false;
    s.wrap.classList.toggle('open', v);
    s.btn.setAttribute('aria-expanded', String(v));
    label(s);
    if (v) loadChat(s).then(function (x) { if (x && s.open) x.show(true); });
    else {
      if (s.chat) s.chat.show(false);
      if (had && !s.btn.hidden) s.btn.focus();
    }
    emit(v ? 'open' : 'close');
  }

  function loadChat(s) {
    return s.cp || (s.cp = new Promise(function (res) {
      if (chatF) return res(chatF);
      chatW.push(res);
      if (loading) return;
      loading = 1;
      var add = function (u, fail) {
        var t = el('script', '', d.head || d.body);
        t.async = true; t.src = u; t.onerror = fail;
      };
      var alt = base + '/static/widget-chat.js' + qs;
      add(dir + 'widget-chat.js' + qs, function () {
        dir + 'widget-chat.js' + qs != alt ? add(alt, function () { warn('could not load widget-chat.js'); }) : warn('could not load widget-chat.js');
      });
    }).then(function (f) {
      if (s !== st) return null;
      return s.chat = f({ base: base, s: s, ls: ls, el: el, at: at, svg: svg, css: css, emit: emit, warn: warn,
        setOpen: setOpen, setUnread: function (n) { setUnread(s, n); } });
    }));
  }

  function forget(K) {
    ['', ':outbox', ':seen', ':unread', ':uid', ':email'].forEach(function (x) { ls(K + x, null); });
  }

  function shutdown(f) {
    var s = st;
    wantOpen = false;
    if (!s) return;
    st = null;
    if (s.chat) s.chat.destroy();
    if (s.host) s.host.remove();
    if (f) forget(s.K);
  }

  w.Switchboard = api;
  q.forEach(function (a) { api.apply(null, a); });
  if (!st && me && me.getAttribute('data-inbox') && !me.hasAttribute('data-manual-boot')) boot({});
})(window, document);
