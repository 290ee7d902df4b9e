// The simulators panel: each running simulator's exchanges arrive live over Server-Sent
// Events (`data-events` on its `.simulator`), the recent ones first. Everything a partner sent
// is put in the page as text (textContent), never as markup.
'use strict';

(function () {
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A body as pretty JSON when it is JSON, else as it came.
  function pretty(body) {
    try {
      return JSON.stringify(JSON.parse(body), null, 2);
    } catch (_) {
      return body;
    }
  }

  function worst(checks) {
    const order = ['errored', 'failed', 'warned', 'passed'];
    let w = 'passed';
    for (const c of checks) {
      if (order.indexOf(c.status) >= 0 && order.indexOf(c.status) < order.indexOf(w)) w = c.status;
    }
    return checks.length ? w : 'none';
  }

  function body(label, text) {
    const d = el('details', 'sim-body');
    d.appendChild(el('summary', null, label));
    d.appendChild(el('pre', 'json', pretty(text)));
    return d;
  }

  function exchange(x) {
    const li = el('li', 'sim-exchange');
    li.dataset.seq = String(x.seq);
    li.dataset.status = worst(x.checks || []);
    const head = el('div', 'sim-head');
    head.appendChild(el('span', 'mono sim-seq', '#' + x.seq));
    head.appendChild(el('span', 'mono sim-at', x.at));
    head.appendChild(el('span', 'mono sim-line', x.method + ' ' + x.path + ' \u2192 ' + x.status));
    if (typeof x.duration_ms === 'number') {
      head.appendChild(el('span', 'muted', x.duration_ms.toFixed(1) + ' ms'));
    }
    li.appendChild(head);
    if (x.unchecked_before) {
      li.appendChild(el('p', 'muted', x.unchecked_before +
        ' earlier exchange(s) were answered but not checked (the live check was behind)'));
    }
    const checks = el('ul', 'sim-checks');
    for (const c of x.checks || []) {
      const item = el('li', 'check');
      item.dataset.status = c.status;
      item.appendChild(el('span', 'pill status-' + c.status, c.status));
      // The log's line ends with what the check traces to: shown once, below it.
      let msg = String(c.message);
      const traced = ' [' + c.requirement + ']';
      if (c.requirement && msg.endsWith(traced)) msg = msg.slice(0, -traced.length);
      item.appendChild(el('span', 'msg', msg));
      if (c.requirement) item.appendChild(el('span', 'mono req', c.requirement));
      checks.appendChild(item);
    }
    li.appendChild(checks);
    if (x.request_body) li.appendChild(body('Request body', x.request_body));
    if (x.response_body) li.appendChild(body('Response body', x.response_body));
    return li;
  }

  function follow(sim) {
    const list = sim.querySelector('.sim-exchanges');
    const state = sim.querySelector('.sim-live');
    const empty = sim.querySelector('.sim-empty');
    const seen = new Set();
    const source = new EventSource(sim.dataset.events);
    source.addEventListener('exchange', function (ev) {
      let x;
      try {
        x = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (seen.has(x.seq)) return;
      seen.add(x.seq);
      if (empty) empty.hidden = true;
      // Newest first.
      list.insertBefore(exchange(x), list.firstChild);
    });
    source.addEventListener('lagged', function (ev) {
      list.insertBefore(el('li', 'muted', ev.data + ' exchange(s) not shown: this page fell behind'),
        list.firstChild);
    });
    function show(word, cls) {
      sim.dataset.state = word;
      if (!state) return;
      state.textContent = word;
      state.className = 'sim-live pill ' + cls;
    }
    source.addEventListener('stopped', function () {
      source.close();
      show('stopped', '');
    });
    source.onopen = function () {
      show('live', 'status-running');
    };
    source.onerror = function () {
      if (state && sim.dataset.state !== 'stopped') state.textContent = 'reconnecting\u2026';
    };
  }

  function copyButtons() {
    for (const b of document.querySelectorAll('button.copy[data-copy]')) {
      b.addEventListener('click', function () {
        if (navigator.clipboard) {
          navigator.clipboard.writeText(b.dataset.copy).then(function () {
            b.textContent = 'Copied';
          }, function () {});
        }
      });
    }
  }

  function init() {
    for (const sim of document.querySelectorAll('.simulator[data-events]')) follow(sim);
    copyButtons();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
