/*! Switchboard chat widget - chat panel, loaded by widget.js (see docs/widget.md) */
window.Switchboard('_chat', function (X) {
  'use strict';
  var w = window, d = document, s = X.s, o = s.o, cfg = s.cfg, ib = cfg.inbox || {}, K = s.K, base = X.base;
  var ls = X.ls, el = X.el, at = X.at;
  var tok = ls(K), cid = null, dead = false, started = false, sessP = null;
  var msgs = new Map(), pend = new Map(); // seq -> {m, e}; client_msg_id -> {it, e}
  var out = [], maxSeq = 0, seen = +ls(K + ':seen') || 0, agentRead = 0, readSent = 0, initial = true;
  var mode = 'ws', ws = null, es = null, up = false, fails = 0, tries = 0, rt = 0, hb = 0, lastRx = 0, nonce = 0, probeT = 0;
  var pollT = 0, tyOn = false, tyAt = 0, tyT = 0, agTyT = 0, rdT = 0, busy = false, everUp = false;
  try { out = JSON.parse(ls(K + ':outbox') || '[]').filter(function (x) { return x && x.id && x.body; }); } catch (e) {}

  X.css(s.root, '.pn{position:fixed;right:20px;bottom:88px;width:370px;height:min(620px,calc(100vh - 108px));min-height:300px;background:var(--bg);color:var(--fg);border-radius:14px;box-shadow:0 12px 48px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden;animation:sbin .18s ease-out}' +
    '@keyframes sbin{from{opacity:0;transform:translateY(12px)}}' +
    '.hd{background:var(--c);color:var(--cf);padding:14px 16px;display:flex;align-items:center;gap:10px}.hd>div{flex:1;min-width:0}' +
    '.hd b{display:block;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.sl{display:block;font-size:12.5px;opacity:.88}' +
    'textarea:focus-visible{outline:0}.x{width:32px;height:32px;border-radius:8px;display:flex;align-items:center;justify-content:center}.x:hover{background:rgba(127,127,127,.25)}.x svg{width:20px;height:20px;fill:currentColor}' +
    '.cn{width:8px;height:8px;border-radius:50%;background:#9ca3af;flex:none}.cn[data-transport=ws],.cn[data-transport=sse]{background:#22c55e}' +
    '.ls{flex:1;overflow-y:auto;padding:14px 12px;display:flex;flex-direction:column;gap:6px;overscroll-behavior:contain}' +
    '.m{max-width:82%;display:flex;flex-direction:column}.m .b{padding:8px 12px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;background:var(--bu)}' +
    '.me{align-self:flex-end;align-items:flex-end}.me .b{background:var(--c);color:var(--cf);border-bottom-right-radius:4px}.them .b{border-bottom-left-radius:4px}' +
    '.lb{font-size:11.5px;color:var(--mu);margin:0 0 2px 4px}.b a{color:inherit;text-decoration:underline}.sys{align-self:center;font-size:12px;color:var(--mu)}.sys .b{background:none}' +
    '.me[data-status=sending] .b{opacity:.7}.st{font-size:11.5px;color:var(--mu);margin-top:2px;display:none}.me.last .st,.me[data-status=failed] .st{display:block}.me[data-status=failed] .st{color:#dc2626}' +
    '.ty{margin:0 12px 6px;padding:8px 12px;border-radius:16px;background:var(--bu);align-self:flex-start;display:flex;gap:4px}' +
    '.ty i{width:6px;height:6px;border-radius:50%;background:var(--mu);animation:sbd 1s infinite}.ty i:nth-child(2){animation-delay:.2s}.ty i:nth-child(3){animation-delay:.4s}@keyframes sbd{50%{opacity:.3}}' +
    '.off,.mf{margin:8px 12px 4px;padding:10px 12px;border-radius:10px;border:1px solid var(--ln);font-size:13px}.off p{margin:0 0 6px}' +
    '.em form{display:flex;gap:6px;margin-top:6px}.em input{flex:1;min-width:0;font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--ln);border-radius:8px;padding:6px 8px}' +
    '.em button{background:var(--c);color:var(--cf);border-radius:8px;padding:6px 12px}.em .er{color:#dc2626}' +
    '.cp{display:flex;align-items:flex-end;gap:8px;border-top:1px solid var(--ln);padding:10px 12px}' +
    'textarea{flex:1;resize:none;border:0;outline:0;background:none;color:var(--fg);font:inherit;line-height:20px;height:40px;max-height:120px;padding:10px 0;margin:0}textarea::placeholder{color:var(--mu)}' +
    '.snd{width:36px;height:36px;border-radius:50%;display:flex;align-items:center;justify-content:center;color:var(--c);flex:none}.snd svg{width:22px;height:22px;fill:currentColor}' +
    '@media (max-width:480px){.pn{inset:0;width:auto;height:auto;border-radius:0;min-height:0}}');

  // ---- DOM ----
  var P = at(el('div', 'pn', s.wrap), { 'data-testid': 'panel', role: 'dialog', 'aria-label': 'Chat with ' + (ib.name || 'us') });
  P.hidden = true;
  var hd = el('div', 'hd', P), hx = el('div', '', hd);
  el('b', '', hx).textContent = ib.name || 'Chat';
  var sl = el('span', 'sl', hx);
  var conn = at(el('span', 'cn', hd), { 'data-testid': 'connection', 'data-transport': 'none', title: 'Offline' });
  var xb = at(el('button', 'x', hd), { type: 'button', 'aria-label': 'Close chat' });
  xb.appendChild(X.svg('M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z'));
  xb.onclick = function () { X.setOpen(false); };
  var offBox = at(el('div', 'off'), { 'data-testid': 'offline', role: 'note' }), mbox = el('div', 'mf');
  var op1 = el('p', '', offBox), op2 = el('p', '', offBox);
  op1.textContent = ib.offline_message || 'We\'re offline right now. Leave a message and we\'ll get back to you.';
  var list = at(el('div', 'ls', P), { 'data-testid': 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
  if (ib.greeting) el('div', 'b', el('div', 'm them g', list)).textContent = ib.greeting;
  var tyEl = at(el('div', 'ty'), { 'data-testid': 'typing', role: 'status', 'aria-label': 'Agent is typing' });
  el('i', '', tyEl); el('i', '', tyEl); el('i', '', tyEl);
  var cp = el('div', 'cp', P);
  var ta = at(el('textarea', '', cp), { 'data-testid': 'composer', rows: '1', placeholder: 'Write a message\u2026', 'aria-label': 'Message', maxlength: '16000' });
  var sb = at(el('button', 'snd', cp), { type: 'button', 'aria-label': 'Send' });
  sb.appendChild(X.svg('M2.01 21 23 12 2.01 3 2 10l15 2-15 2z'));

  P.addEventListener('keydown', function (e) { if (e.key == 'Escape') { e.stopPropagation(); X.setOpen(false); } });
  ta.addEventListener('keydown', function (e) {
    if (e.key == 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode != 229) { e.preventDefault(); submit(); }
  });
  ta.addEventListener('input', function () { grow(); ta.value.trim() ? typing() : typingOff(); });
  sb.onclick = function () { submit(); ta.focus(); };
  function grow() { ta.style.height = 'auto'; ta.style.height = Math.min(ta.scrollHeight, 120) + 'px'; }

  // ---- mail form (pre-chat or offline; one input[data-testid=email] at most) ----
  var mailed = !!((o.user && o.user.email) || ls(K + ':email'));
  var mf = el('div', 'em'), mt = el('div', '', mf), fm = el('form', '', mf);
  var mi = at(el('input', '', fm), { type: 'email', 'data-testid': 'email', placeholder: 'you@example.com', 'aria-label': 'Your email', autocomplete: 'email', required: '' });
  at(el('button', '', fm), { type: 'submit' }).textContent = 'Save';
  var mer = el('div', 'er', mf);
  fm.onsubmit = function (e) {
    e.preventDefault();
    var v = mi.value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) { mer.textContent = 'Please enter a valid email.'; return; }
    mer.textContent = '';
    start().then(function () { return req('POST', '/api/v1/widget/contact', { email: v }); }).then(function (r) {
      if (!r.ok) throw r;
      mailed = true; ls(K + ':email', '1');
      mf.textContent = 'Thanks! We\'ll reply to ' + v + '.';
    }).catch(function () { mer.textContent = 'Could not save your email, please try again.'; });
  };
  function placeMail(offline) {
    if (mailed) return;
    mt.textContent = offline ? 'Leave your email and we\'ll get back to you:' : 'Get notified by email when we reply:';
    var t = offline ? offBox : mbox;
    if (mf.parentNode !== t) t.appendChild(mf);
    if (!offline && ib.ask_email) { if (!mbox.parentNode) P.insertBefore(mbox, cp); } else mbox.remove();
  }

  // ---- availability & status line ----
  function fmtT(iso) {
    var t = new Date(iso), n = new Date(), f = { hour: 'numeric', minute: '2-digit' };
    if (isNaN(t)) return '';
    if (t.toDateString() != n.toDateString()) f.weekday = 'long';
    return t.toLocaleString([], f);
  }
  function status(j) {
    sl.textContent = j.assignee ? (j.assignee.name || 'An agent') + ' is here' : j.queue_position ? 'You are #' + j.queue_position + ' in the queue' :
      j.available ? 'We typically reply in a few minutes' : 'We\'re away right now';
    if (j.available) offBox.remove();
    else {
      op2.textContent = j.next_open_at ? 'We\'re back at ' + fmtT(j.next_open_at) + '.' : '';
      op2.hidden = !j.next_open_at;
      if (!offBox.parentNode) hd.after(offBox);
    }
    placeMail(!j.available);
  }
  status(cfg);
  function poll() {
    clearTimeout(pollT);
    if (dead || !s.open || !tok) return;
    req('GET', '/api/v1/widget/status').then(function (r) { return r.ok ? r.json() : null; }).then(function (j) {
      if (j && !dead) status(j);
      if (!j || !j.assignee) pollT = setTimeout(poll, 20000);
    }, function () { pollT = setTimeout(poll, 20000); });
  }

  // ---- HTTP ----
  function req(m, path, body) {
    var h = {};
    if (body) h['Content-Type'] = 'application/json';
    if (tok) h.Authorization = 'Bearer ' + tok;
    return fetch(base + path, { method: m, headers: h, body: body ? JSON.stringify(body) : undefined, credentials: 'omit' });
  }
  function sleep(t) { return new Promise(function (r) { setTimeout(r, t); }); }
  function page() { return { url: location.href.slice(0, 2000), title: (d.title || '').slice(0, 300) }; }
  function user() {
    var u = o.user, r = {};
    if (!u || u.user_id == null) return null;
    ['name', 'email', 'user_hash'].forEach(function (k) { if (u[k]) r[k] = String(u[k]); });
    r.user_id = String(u.user_id);
    return r;
  }

  // POST /widget/session (create, resume or identify); retries transient failures
  function session() {
    if (sessP) return sessP;
    var b = { inbox_token: s.inbox }, u = user(), n = 0;
    if (tok) b.visitor_token = tok; else b.page = page();
    if (u) b.user = u;
    return sessP = (function go() {
      return fetch(base + '/api/v1/widget/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b), credentials: 'omit' })
        .then(function (r) {
          if (r.ok) return r.json();
          if (r.status < 500 && r.status != 429) return r.json().catch(function () { return {}; }).then(function (j) { throw { fatal: r.status + ' ' + (j.message || '') }; });
          throw r;
        }).catch(function (e) {
          if (e.fatal || dead) { X.warn('could not start a chat session: ' + (e.fatal || 'stopped')); throw e; }
          return sleep(Math.min(15000, 500 * Math.pow(2, n++)) * (.5 + Math.random())).then(go);
        });
    })().then(function (j) {
      sessP = null;
      if (dead) throw 0;
      var changed = cid && j.conversation_id != cid;
      tok = j.visitor_token; ls(K, tok); ls(K + ':uid', u ? u.user_id : null);
      cid = j.conversation_id;
      if (changed) { reset(); reconnect(); }
      return j;
    }, function (e) { sessP = null; throw e; });
  }
  function start() {
    if (started) return started;
    var had = !!tok;
    return started = session().then(function (j) {
      if (had) req('POST', '/api/v1/widget/page', page()).catch(function () {});
      connect(); poll();
      return j;
    }, function (e) {
      started = false;
      sl.textContent = 'Chat is unavailable right now';
      throw e;
    });
  }

  // ---- messages ----
  function linkify(p, t) {
    var re = /\bhttps?:\/\/[^\s<>"']+/gi, i = 0, m, u, a;
    while ((m = re.exec(t))) {
      u = m[0].replace(/[.,;:!?)\]}]+$/, '');
      p.append(t.slice(i, m.index));
      a = at(el('a', '', p), { href: u, target: '_blank', rel: 'noopener noreferrer' });
      a.textContent = u;
      i = re.lastIndex = m.index + u.length;
    }
    p.append(t.slice(i));
  }
  function render(m) {
    var c = m.sender_type, e = at(el('div', 'm ' + (c == 'customer' ? 'me' : c == 'system' ? 'sys' : 'them')), { 'data-testid': 'message', 'data-sender': c, 'data-seq': '' });
    if (c == 'bot') el('div', 'lb', e).textContent = 'Assistant';
    linkify(at(el('div', 'b', e), { 'data-testid': 'body' }), m.body || '');
    if (c == 'customer') e._s = el('div', 'st', e);
    return e;
  }
  // confirmed messages in seq order, unsent ones after them
  function place(e, q) {
    var c = list.lastElementChild;
    while (c && c._q !== undefined && (c._q === null || c._q > q)) c = c.previousElementSibling;
    list.insertBefore(e, c ? c.nextSibling : list.firstChild);
  }
  function stat(e) {
    if (!e._s) return;
    var v = e._f || e._r ? 'failed' : e._q == null ? 'sending' : e._q <= agentRead ? 'seen' : 'sent';
    var t = e._f ? 'Not sent: ' + e._f : e._r ? 'Not sent \u2014 retrying' : { sending: 'Sending\u2026', sent: 'Sent', seen: 'Seen' }[v];
    if (e._v === t) return;
    e._v = t;
    e.setAttribute('data-status', v);
    e._s.textContent = t;
  }
  function refresh() {
    var a = list.querySelectorAll('.me'), l = list.querySelector('.me.last');
    if (l) l.classList.remove('last');
    if (a.length) a[a.length - 1].classList.add('last');
    a.forEach(stat);
  }
  function atBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 60; }
  function scroll() { list.scrollTop = list.scrollHeight; }

  function onMsg(m) {
    if (m.private || (cid && m.conversation_id && m.conversation_id != cid) || msgs.has(m.seq)) return;
    var b = s.open && atBottom(), p = m.sender_type == 'customer' && pend.get(m.client_msg_id), e = p ? p.e : render(m);
    if (p) { pend.delete(m.client_msg_id); unqueue(m.client_msg_id); }
    e._q = m.seq; e._r = 0;
    e.setAttribute('data-seq', m.seq);
    if (m.created_at) e.title = new Date(m.created_at).toLocaleString();
    msgs.set(m.seq, { m: m, e: e });
    if (m.seq > maxSeq) maxSeq = m.seq;
    place(e, m.seq);
    if (m.sender_type != 'customer') agTyping(false);
    refresh();
    if (b || p || !s.open) scroll();
    if (!initial) { X.emit('message', m); markRead(); unread(); }
  }
  function unread() {
    var n = 0;
    msgs.forEach(function (x) { if ((x.m.sender_type == 'agent' || x.m.sender_type == 'bot') && x.m.seq > seen) n++; });
    X.setUnread(n);
  }
  function markRead() {
    if (!s.open || d.hidden || !maxSeq || initial) return;
    if (maxSeq > seen) { seen = maxSeq; ls(K + ':seen', String(seen)); unread(); }
    // batched: one read frame for a burst of messages
    if (!rdT) rdT = setTimeout(function () {
      var q = maxSeq;
      rdT = 0;
      if (dead || !up || q <= readSent) return;
      if (mode == 'ws') { if (wsSend({ type: 'read', seq: q })) readSent = q; }
      else { readSent = q; req('POST', '/api/v1/conversations/' + cid + '/read', { seq: q }).catch(function () { readSent = 0; }); }
    }, 150);
  }
  function reset() {
    msgs.forEach(function (x) { x.e.remove(); });
    msgs.clear(); maxSeq = agentRead = readSent = seen = 0; initial = true;
    ls(K + ':seen', null); unread();
  }

  // ---- outbox ----
  function save() { if (!dead) ls(K + ':outbox', out.length ? JSON.stringify(out) : null); }
  function unqueue(id) { out = out.filter(function (x) { return x.id != id; }); save(); }
  function uuid() {
    var c = w.crypto, b = new Uint8Array(16), h, i;
    if (c && c.randomUUID) try { return c.randomUUID(); } catch (e) {}
    if (c && c.getRandomValues) c.getRandomValues(b); else for (i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = b[6] & 15 | 64; b[8] = b[8] & 63 | 128;
    h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function addPend(it) {
    var e = render({ sender_type: 'customer', body: it.body });
    e._q = null; e._r = everUp && !up;
    pend.set(it.id, { it: it, e: e });
    list.appendChild(e);
  }
  function submit() {
    var v = ta.value;
    if (!v.trim()) return;
    ta.value = ''; grow(); typingOff();
    var it = { id: uuid(), body: v };
    out.push(it); save(); addPend(it); refresh(); scroll();
    setTimeout(function () { var p = pend.get(it.id); if (p && !p.e._f) { p.e._r = 1; stat(p.e); } }, 10000);
    if (up) mode == 'ws' ? wsSend({ type: 'send', client_msg_id: it.id, body: it.body }) : pump();
    else start().catch(function () {});
  }
  function onAck(a) {
    var p = pend.get(a.client_msg_id);
    if (!p) return unqueue(a.client_msg_id);
    if (msgs.has(a.seq)) { p.e.remove(); pend.delete(a.client_msg_id); unqueue(a.client_msg_id); return refresh(); }
    onMsg({ id: a.id, conversation_id: a.conversation_id || cid, seq: a.seq, client_msg_id: a.client_msg_id, sender_type: 'customer',
      sender_id: a.sender_id, private: false, body: p.it.body, created_at: a.created_at || new Date().toISOString() });
  }
  function onFail(id, msg, retry) {
    var p = pend.get(id);
    if (!p) return;
    if (retry) { p.e._r = 1; stat(p.e); return; }
    p.e._f = msg || 'rejected'; p.e._r = 0;
    pend.delete(id); unqueue(id); stat(p.e);
  }
  // HTTP sending (SSE mode): one at a time, in order, same client_msg_id on every retry
  function pump() {
    if (busy || !cid) return;
    busy = true;
    var n = 0;
    (function next() {
      var it = out[0];
      if (!it || dead || mode != 'sse') { busy = false; return; }
      req('POST', '/api/v1/conversations/' + cid + '/messages', { client_msg_id: it.id, body: it.body }).then(function (r) {
        if (r.ok) return r.json().then(function (j) { n = 0; onAck(j.message); if (out[0] === it) unqueue(it.id); });
        if (r.status == 429 || r.status >= 500) throw r;
        return r.json().catch(function () { return {}; }).then(function (j) { onFail(it.id, j.message || 'HTTP ' + r.status); if (out[0] === it) unqueue(it.id); });
      }).then(next, function (r) {
        onFail(it.id, '', 1);
        var ra = r && r.headers && +r.headers.get('Retry-After');
        setTimeout(next, ra ? ra * 1000 : Math.random() * Math.min(15000, 500 * Math.pow(2, n++)));
      });
    })();
  }

  // ---- typing ----
  function sendTy(v) {
    if (!up) return;
    mode == 'ws' ? wsSend({ type: 'typing', typing: v }) : req('POST', '/api/v1/widget/typing', { typing: v }).catch(function () {});
  }
  function typing() {
    var n = Date.now();
    if (!tyOn || n - tyAt > 2000) { tyOn = true; tyAt = n; sendTy(true); }
    clearTimeout(tyT); tyT = setTimeout(typingOff, 3000);
  }
  function typingOff() { clearTimeout(tyT); if (tyOn) { tyOn = false; sendTy(false); } }
  function agTyping(v, bot) {
    clearTimeout(agTyT);
    if (!v) return tyEl.remove();
    var b = atBottom();
    tyEl.setAttribute('aria-label', bot ? 'Assistant is typing' : 'Agent is typing');
    if (!tyEl.parentNode) P.insertBefore(tyEl, list.nextSibling);
    if (b) scroll();
    agTyT = setTimeout(agTyping, bot ? 20000 : 8000, false);
  }

  // ---- transport ----
  function setT(t) { conn.setAttribute('data-transport', t); conn.title = t == 'none' ? 'Offline' : 'Connected'; }
  function frame(f) {
    lastRx = Date.now();
    switch (f.type) {
      case 'hello':
        if (f.conversation_id) { if (cid && f.conversation_id != cid) reset(); cid = f.conversation_id; }
        up = everUp = true; tries = 0; fails = 0; setT(mode);
        if (mode == 'ws') {
          wsSend({ type: 'subscribe', after_seq: maxSeq });
          out.forEach(function (it) { wsSend({ type: 'send', client_msg_id: it.id, body: it.body }); });
          clearInterval(hb);
          var ms = Math.max(5000, f.heartbeat_ms || 20000);
          hb = setInterval(function () {
            if (Date.now() - lastRx > 2 * ms + 5000) return drop(ws);
            wsSend({ type: 'ping', nonce: ++nonce });
          }, ms);
        } else pump();
        pend.forEach(function (p) { p.e._r = 0; });
        refresh(); markRead();
        return;
      case 'message': return onMsg(f);
      case 'replay_done':
        // first history load: fetch the stored read markers ("Seen", unread across devices)
        if (initial && maxSeq && cid) req('GET', '/api/v1/conversations/' + cid).then(function (r) { return r.ok ? r.json() : {}; })
          .then(function (j) { (j.read || []).forEach(function (x) { if (!dead) frame({ type: 'read', reader_type: x.reader_type, seq: x.seq }); }); }, function () {});
        initial = false; markRead(); return unread();
      case 'ack': return onAck(f);
      case 'error':
        if (f.ref) onFail(f.ref, f.message, f.retryable);
        if (f.ref && f.retryable) setTimeout(function () {
          var p = pend.get(f.ref);
          if (p && up && mode == 'ws') wsSend({ type: 'send', client_msg_id: f.ref, body: p.it.body });
        }, (f.retry_after ? f.retry_after * 1000 : 1000) + Math.random() * 2000);
        return;
      case 'typing': if (f.sender_type != 'customer') agTyping(f.typing, f.sender_type == 'bot'); return;
      case 'read':
        if (f.reader_type == 'customer') { if (f.seq > seen) { seen = f.seq; ls(K + ':seen', String(seen)); unread(); } }
        else if (f.seq > agentRead) { agentRead = f.seq; refresh(); }
        return;
      case 'conversation_updated': if (s.open) poll(); return;
      case 'resync':
        if (f.last_seq < maxSeq) reset();
        if (mode == 'ws') wsSend({ type: 'subscribe', after_seq: maxSeq }); else reconnect();
    }
  }
  function wsSend(f) { if (ws && ws.readyState == 1) { ws.send(JSON.stringify(f)); return true; } }
  function connect() {
    if (dead || !tok || ws || es) return;
    clearTimeout(rt); rt = 0;
    mode == 'sse' ? openSse() : openWs();
  }
  function openWs() {
    var k;
    try { k = ws = new WebSocket(base.replace(/^http/, 'ws') + '/ws/widget', ['switchboard.v1', tok]); }
    catch (e) { ws = null; return lost(false); }
    k._h = false;
    k.onmessage = function (e) {
      if (k !== ws) return;
      var f; try { f = JSON.parse(e.data); } catch (x) { return; }
      if (f.type == 'hello') k._h = true;
      frame(f);
    };
    k.onclose = function () { if (k === ws) drop(k); };
  }
  function drop(k) {
    if (!k || k !== ws) return;
    ws = null;
    k.onclose = k.onmessage = null;
    try { k.close(); } catch (e) {}
    lost(k._h);
  }
  function lost(hello) {
    up = false; clearInterval(hb); setT('none'); agTyping(false);
    pend.forEach(function (p) { p.e._r = 1; });
    refresh();
    if (!hello) fails++;
    // WebSocket blocked (two failures in a row before hello): fall back to SSE + HTTP
    if (mode == 'ws' && fails == 2) { mode = 'sse'; tries = 0; probe(); }
    // still failing: maybe the token is no longer valid; get a fresh one
    if (fails % 4 == 0 && fails) return session().then(retry, retry);
    retry();
  }
  function retry() {
    if (dead || rt) return;
    rt = setTimeout(function () { rt = 0; connect(); }, Math.random() * Math.min(15000, 500 * Math.pow(2, tries++)));
  }
  function openSse() {
    var k = es = new EventSource(base + '/api/v1/widget/events?token=' + encodeURIComponent(tok) + '&after_seq=' + maxSeq);
    var h = function (e) {
      if (k !== es) return;
      var f; try { f = JSON.parse(e.data); } catch (x) { return; }
      if (f.type == 'hello') k._h = true;
      frame(f);
    };
    ['message', 'hello', 'replay_done', 'typing', 'read', 'conversation_updated', 'resync'].forEach(function (t) { k.addEventListener(t, h); });
    k.onerror = function (e) {
      if (e.data != null) return h(e); // a server frame named "error"
      if (k !== es) return;
      k.close(); es = null; lost(k._h);
    };
  }
  // in SSE mode, try a WebSocket again every 60 s; switch back when it reaches hello
  function probe() {
    clearTimeout(probeT);
    probeT = setTimeout(function () {
      if (dead || mode != 'sse') return;
      if (!tok) return probe();
      var k;
      try { k = new WebSocket(base.replace(/^http/, 'ws') + '/ws/widget', ['switchboard.v1', tok]); } catch (e) { return probe(); }
      k.onmessage = function () {
        k.onclose = null; k.close();
        if (dead || mode != 'sse') return;
        mode = 'ws'; fails = 0;
        reconnect();
      };
      k.onclose = probe;
    }, 60000);
  }
  function reconnect() {
    var k = es; es = null; if (k) k.close();
    k = ws; ws = null;
    if (k) { k.onclose = k.onmessage = null; try { k.close(); } catch (e) {} }
    up = false; clearInterval(hb); setT('none');
    clearTimeout(rt); rt = 0; connect();
  }

  function onVis() { if (!d.hidden) { markRead(); if (!ws && !es && started && tok) { clearTimeout(rt); rt = 0; connect(); } } }
  d.addEventListener('visibilitychange', onVis);
  w.addEventListener('online', onVis);

  out.forEach(addPend);
  refresh();
  if (tok || user()) start().catch(function () {});

  return {
    show: function (v) {
      P.hidden = !v;
      if (!v) { clearTimeout(pollT); typingOff(); return; }
      start().catch(function () {});
      poll(); scroll(); markRead();
      setTimeout(function () { ta.focus(); }, 30);
    },
    identify: function () {
      if (o.user && o.user.email && !mailed) { mailed = true; mf.remove(); mbox.remove(); }
      if (!started) return start().catch(function () {});
      (sessP || Promise.resolve()).catch(function () {}).then(session).then(function () { if (s.open) poll(); }, function () {});
    },
    page: function () { if (tok) req('POST', '/api/v1/widget/page', page()).catch(function () {}); },
    destroy: function () {
      dead = true;
      clearTimeout(rt); clearTimeout(pollT); clearTimeout(probeT); clearTimeout(tyT); clearTimeout(agTyT); clearTimeout(rdT); clearInterval(hb);
      if (ws) { ws.onclose = ws.onmessage = null; ws.close(); }
      if (es) es.close();
      ws = es = null;
      d.removeEventListener('visibilitychange', onVis);
      w.removeEventListener('online', onVis);
    }
  };
});
