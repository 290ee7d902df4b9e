// cdex-harness web console: the start form's conveniences and the live page of a run.
// The DOM is built with createElement and textContent only: nothing a peer sent is ever
// parsed as HTML. The page talks to its own origin only (EventSource, fetch).
(function () {
  'use strict';

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function pill(status) {
    return el('span', 'pill status-' + status, status);
  }

  function setStatus(node, status) {
    node.setAttribute('data-status', status);
    var p = node.querySelector('.pill');
    if (p) {
      p.className = 'pill status-' + status;
      p.textContent = status;
    }
  }

  // ---- The start-a-run form ----------------------------------------------------------

  function initForm(form) {
    var pack = form.querySelector('select[name=pack]');
    var actor = form.querySelector('select[name=actor]');
    function byPack() {
      var p = pack.value;
      var a = actor.value;
      form.querySelectorAll('[data-pack]').forEach(function (n) {
        var on = n.getAttribute('data-pack') === p;
        var of = n.getAttribute('data-actor');
        // A fault of another actor than the one chosen is hidden, not refused.
        n.hidden = !on || (!!of && !!a && of !== a);
        var input = n.tagName === 'OPTION' || n.tagName === 'INPUT' ? n : n.querySelector('input');
        if (input) input.disabled = !on;
      });
      form.querySelectorAll('select').forEach(function (s) {
        var o = s.options[s.selectedIndex];
        if (o && o.disabled) s.value = '';
      });
    }
    function bySut() {
      var checked = form.querySelector('input[name=sut]:checked');
      var v = checked ? checked.value : 'reference';
      form.querySelectorAll('.when').forEach(function (n) {
        n.hidden = n.getAttribute('data-sut') !== v;
      });
    }
    pack.addEventListener('change', byPack);
    actor.addEventListener('change', byPack);
    form.querySelectorAll('input[name=sut]').forEach(function (r) {
      r.addEventListener('change', bySut);
    });
    byPack();
    bySut();
    var file = document.getElementById('config-file');
    var text = document.getElementById('config');
    if (file && text) {
      file.addEventListener('change', function () {
        var f = file.files && file.files[0];
        if (!f) return;
        var reader = new FileReader();
        reader.onload = function () { text.value = String(reader.result); };
        reader.readAsText(f);
      });
    }
  }

  // ---- The live page of a run --------------------------------------------------------

  function pretty(body) {
    if (body === undefined || body === null) return null;
    var t = String(body).trim();
    if (t.charAt(0) === '{' || t.charAt(0) === '[') {
      try { return JSON.stringify(JSON.parse(t), null, 2); } catch (e) { /* not JSON */ }
    }
    return String(body);
  }

  function message(title, m) {
    var box = el('div', 'message');
    box.appendChild(el('h4', null, title));
    if (!m) {
      box.appendChild(el('p', 'muted', 'None.'));
      return box;
    }
    if (m.headers && m.headers.length) {
      var table = el('table', 'headers');
      var tbody = el('tbody');
      m.headers.forEach(function (h) {
        var tr = el('tr');
        tr.appendChild(el('th', null, h[0]));
        tr.appendChild(el('td', null, h[1]));
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      box.appendChild(table);
    }
    var body = pretty(m.body);
    if (body !== null) {
      box.appendChild(el('pre', 'body', body));
      if (m.body_truncated) box.appendChild(el('p', 'muted', 'Body truncated.'));
    } else if (m.body_size) {
      box.appendChild(el('p', 'muted', 'Body of ' + m.body_size + ' bytes, not inline (see the report).'));
    }
    return box;
  }

  function exchange(x, elided) {
    var d = el('details', 'exchange');
    var s = el('summary');
    var req = x.request || {};
    var res = x.response;
    s.appendChild(el('span', 'muted', x.direction === 'incoming' ? 'system → harness ' : 'harness → system '));
    s.appendChild(el('strong', 'mono', req.method || ''));
    s.appendChild(document.createTextNode(' '));
    s.appendChild(el('span', 'mono', req.url || ''));
    s.appendChild(document.createTextNode(' → '));
    s.appendChild(el('strong', null, res && res.status ? res.status : (x.error ? 'error' : 'no response')));
    if (typeof x.duration_ms === 'number') {
      s.appendChild(el('span', 'muted', ' ' + Math.round(x.duration_ms) + ' ms'));
    }
    d.appendChild(s);
    if (elided) {
      d.appendChild(el('p', 'muted', 'Headers and bodies no longer kept for the live page: see the report.'));
    }
    if (x.error) d.appendChild(el('p', 'problem', 'Transport error: ' + x.error));
    if (!elided) {
      d.appendChild(message('Request', req));
      d.appendChild(message('Response', res));
    }
    return d;
  }

  function check(a) {
    var li = el('li', 'check');
    li.setAttribute('data-status', a.status);
    li.appendChild(pill(a.status));
    li.appendChild(document.createTextNode(' '));
    if (a.requirement) {
      li.appendChild(el('strong', 'mono', a.requirement));
      li.appendChild(document.createTextNode(' '));
    }
    li.appendChild(el('span', null, a.description));
    if (a.status !== 'passed') {
      if (a.expected) { li.appendChild(el('br')); li.appendChild(el('span', 'muted', 'expected ')); li.appendChild(el('code', null, a.expected)); }
      if (a.actual) { li.appendChild(el('br')); li.appendChild(el('span', 'muted', 'actual ')); li.appendChild(el('code', null, a.actual)); }
      if (a.message) { li.appendChild(el('br')); li.appendChild(el('span', null, a.message)); }
      if (a.hint) { li.appendChild(el('br')); li.appendChild(el('span', 'hint', 'likely fix: ' + a.hint)); }
    }
    return li;
  }

  function finding(f) {
    var li = el('li', 'finding');
    var p = el('p');
    if (f.requirement) {
      var a = el('a', null, f.requirement);
      if (f.link) a.href = f.link;
      p.appendChild(a);
      p.appendChild(document.createTextNode(' ' + (f.verb || '') + ': '));
      p.appendChild(el('q', null, f.text || ''));
    } else {
      p.appendChild(el('strong', null, 'Checks that prove no requirement'));
    }
    li.appendChild(p);
    var ul = el('ul');
    (f.checks || []).forEach(function (c) {
      var item = el('li');
      var link = el('a', null, c.scenario + ' / ' + c.step);
      link.href = c.link;
      item.appendChild(link);
      item.appendChild(document.createTextNode(': ' + (c.description || '')));
      if (c.expected) { item.appendChild(el('br')); item.appendChild(el('span', 'muted', 'expected ')); item.appendChild(el('code', null, c.expected)); }
      if (c.actual) { item.appendChild(el('br')); item.appendChild(el('span', 'muted', 'actual ')); item.appendChild(el('code', null, c.actual)); }
      if (c.message) { item.appendChild(el('br')); item.appendChild(document.createTextNode(c.message)); }
      if (c.hint) { item.appendChild(el('br')); item.appendChild(el('span', 'hint', 'likely fix: ' + c.hint)); }
      ul.appendChild(item);
    });
    li.appendChild(ul);
    return li;
  }

  function initRun(root) {
    var statusEl = document.getElementById('run-status');
    var now = document.getElementById('now');
    var notices = document.getElementById('notices');
    var manual = document.getElementById('manual');
    var manualForm = document.getElementById('manual-form');
    var list = document.getElementById('scenarios');
    var scenarios = new Map();
    var steps = new Map();
    var rows = new Map();
    document.querySelectorAll('#scenarios .scenario').forEach(function (n) {
      scenarios.set(n.getAttribute('data-scenario'), n);
    });
    document.querySelectorAll('#matrix tr[data-requirement]').forEach(function (n) {
      rows.set(n.getAttribute('data-requirement'), n);
    });

    if (manualForm) {
      manualForm.addEventListener('submit', function (e) {
        e.preventDefault();
        var button = e.submitter || manualForm.querySelector('button[data-answer=done]');
        var body = new URLSearchParams();
        body.set('answer', button.value);
        fetch(manualForm.action, { method: 'POST', body: body, credentials: 'same-origin', redirect: 'manual' })
          .then(function () { manual.hidden = true; });
      });
    }

    function scenario(id) {
      var n = scenarios.get(id);
      if (!n) {
        n = el('li', 'scenario');
        n.setAttribute('data-scenario', id);
        var head = el('div', 'scenario-head');
        head.appendChild(pill('pending'));
        head.appendChild(document.createTextNode(' '));
        head.appendChild(el('strong', 'mono', id));
        n.appendChild(head);
        n.appendChild(el('ol', 'steps'));
        list.appendChild(n);
        scenarios.set(id, n);
      }
      return n;
    }

    function step(sid, id, title) {
      var k = sid + '\u0000' + id;
      var n = steps.get(k);
      if (!n) {
        n = el('li', 'step');
        n.setAttribute('data-step', id);
        n.setAttribute('data-status', 'running');
        var head = el('div', 'step-head');
        head.appendChild(pill('running'));
        head.appendChild(document.createTextNode(' '));
        head.appendChild(el('span', 'step-title', title || id));
        n.appendChild(head);
        n.appendChild(el('div', 'exchanges'));
        n.appendChild(el('ul', 'checks'));
        scenario(sid).querySelector('.steps').appendChild(n);
        steps.set(k, n);
      }
      return n;
    }

    var handlers = {
      'run-started': function (ev) {
        now.textContent = 'Testing ' + ev.target;
        (ev.notes || []).forEach(function (t) { notices.appendChild(el('li', null, t)); });
      },
      'notice': function (ev) { notices.appendChild(el('li', null, ev.text)); },
      'truncated': function () {
        notices.appendChild(el('li', null, 'The first events of this long run are no longer kept: see the report for them.'));
      },
      'scenario-started': function (ev) {
        var n = scenario(ev.id);
        setStatus(n, 'running');
        now.textContent = '[' + ev.index + '/' + ev.total + '] ' + ev.id;
      },
      'step-started': function (ev) {
        step(ev.scenario, ev.step, ev.title);
        now.textContent = ev.scenario + ': ' + ev.title;
      },
      'waiting': function (ev) {
        now.textContent = ev.scenario + ': waiting up to ' + Math.round(ev.within_ms / 1000) + ' s for ' + ev.what;
        if (ev.manual && manual) {
          document.getElementById('manual-instruction').textContent = ev.instruction || ev.what;
          document.getElementById('manual-wait').textContent = 'The harness waits up to ' + Math.round(ev.within_ms / 1000) + ' s.';
          manual.hidden = false;
        }
      },
      'wait-ended': function () { if (manual) manual.hidden = true; },
      'exchange': function (ev) {
        step(ev.scenario, ev.step).querySelector('.exchanges').appendChild(exchange(ev.exchange, ev.elided));
      },
      'step-finished': function (ev) {
        var r = ev.step;
        var n = step(ev.scenario, r.id, r.title);
        setStatus(n, r.status);
        if (r.message) n.insertBefore(el('p', 'step-message', r.message), n.querySelector('.exchanges'));
        var checks = n.querySelector('.checks');
        (r.assertions || []).forEach(function (a) { checks.appendChild(check(a)); });
      },
      'scenario-finished': function (ev) {
        var n = scenario(ev.id);
        setStatus(n, ev.status);
        if (ev.message) n.querySelector('.scenario-head').appendChild(el('span', 'muted', ' ' + ev.message));
      },
      'requirements': function (ev) {
        ev.rows.forEach(function (r) {
          var tr = rows.get(r.id);
          if (tr) setStatus(tr, r.status);
        });
      },
      'finished': function (ev) {
        statusEl.setAttribute('data-status', ev.status);
        statusEl.className = 'run-status status-' + ev.status;
        statusEl.textContent = ev.status;
        now.textContent = '';
        if (manual) manual.hidden = true;
        var s = ev.summary;
        var line = s.passed + ' passed';
        if (s.failed) line += ' · ' + s.failed + ' failed';
        if (s.errored) line += ' · ' + s.errored + ' errored';
        if (s.warned) line += ' · ' + s.warned + ' warned';
        if (s.not_applicable) line += ' · ' + s.not_applicable + ' not applicable';
        if (s.skipped + s.not_run) line += ' · ' + (s.skipped + s.not_run) + ' not run';
        document.getElementById('verdict-line').textContent = line;
        document.getElementById('conformance').textContent = ev.findings.conformance;
        var failed = document.getElementById('what-failed');
        while (failed.firstChild) failed.removeChild(failed.firstChild);
        ev.findings.failures.forEach(function (f) { failed.appendChild(finding(f)); });
        ev.findings.errors.forEach(function (p) {
          var li = el('li', 'finding error');
          li.appendChild(el('p', null, p.scenario + (p.step ? ' / ' + p.step : '') + ': could not be carried out: ' + p.message));
          failed.appendChild(li);
        });
        document.getElementById('verdict').hidden = false;
        var stop = document.getElementById('stop-form');
        if (stop) stop.hidden = true;
        var rerun = document.getElementById('rerun-form');
        if (rerun) rerun.hidden = ev.status !== 'failed';
      }
    };

    var url = root.getAttribute('data-events');
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.onmessage = function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      var h = handlers[ev.type];
      if (h) h(ev);
      if (ev.type === 'finished') source.close();
    };
  }

  document.addEventListener('DOMContentLoaded', function () {
    ['start-run', 'start-simulator'].forEach(function (id) {
      var form = document.getElementById(id);
      if (form) initForm(form);
    });
    var run = document.getElementById('run');
    if (run) initRun(run);
  });
})();
