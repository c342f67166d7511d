(function () {
  'use strict';
  // The report's data: see dataJSON in render.go for the encoding.
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var COLORS = ['#ffffff', '#9aa0a6', '#f9ab00', '#34a853', '#fa7b17', '#d93025'];
  var MERGE_PX = 7; // markers closer than this on screen are drawn as one

  function decodeMarks(a) {
    var out = [], t = 0;
    for (var i = 0; i + 8 < a.length; i += 9) {
      t += a[i];
      out.push({ t: t, seq: a[i + 1], cat: a[i + 2], typ: a[i + 3], cause: a[i + 4], actor: a[i + 5],
        detail: a[i + 6], count: a[i + 7], stale: (a[i + 8] & 1) === 1, mask: a[i + 8] >> 1 });
    }
    return out;
  }

  var lanesEl = document.getElementById('lanes');
  var laneEls = lanesEl.children; // the daemon lane, then one per worker, in D.lanes order
  var all = [{ name: '', starts: new Float64Array(0), codes: new Uint8Array(0), marks: decodeMarks(D.daemon) }];
  D.lanes.forEach(function (l) {
    var n = l.bands.length / 2, starts = new Float64Array(n), codes = new Uint8Array(n), t = 0;
    for (var k = 0; k < n; k++) { t += l.bands[2 * k]; starts[k] = t; codes[k] = l.bands[2 * k + 1]; }
    all.push({ name: l.name, starts: starts, codes: codes, marks: decodeMarks(l.marks) });
  });
  var byName = {};
  all.forEach(function (L, i) { L.el = laneEls[i]; L.track = L.el.querySelector('.track'); byName[L.name] = i; });

  var view = { a: -Math.max(D.span, 1) * 0.01, b: Math.max(D.span, 1) * 1.01 };
  var hl = null; // {seq, lane, t} of the highlighted event
  var rendered = new Set();
  var tip = document.getElementById('tip');
  var pinned = false;

  function laneH() { return laneEls.length ? laneEls[0].offsetHeight || 22 : 22; }
  function trackW() { return all.length ? all[0].track.clientWidth : 0; }

  function fmt(ms) {
    return new Date(D.t0 + ms).toISOString().replace('T', ' ').replace('Z', '');
  }
  function fmtDur(ms) {
    if (ms < 1000) return Math.round(ms) + 'ms';
    if (ms < 60e3) return (ms / 1e3).toFixed(1) + 's';
    if (ms < 3600e3) return (ms / 60e3).toFixed(1) + 'm';
    if (ms < 172800e3) return (ms / 3600e3).toFixed(1) + 'h';
    return (ms / 86400e3).toFixed(1) + 'd';
  }

  // lowerBound returns the first index whose value is >= x.
  function lowerBound(arr, x, key) {
    var lo = 0, hi = arr.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if ((key ? arr[mid].t : arr[mid]) < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // drawBands paints a lane's states, one dominant state per pixel column:
  // zoomed out, thousands of short bands fall into one pixel, and drawing
  // them all would only show whichever came last.
  function drawBands(L, W) {
    var c = L.canvas;
    if (!c) { c = L.canvas = document.createElement('canvas'); L.track.appendChild(c); }
    var dpr = window.devicePixelRatio || 1, H = 14;
    c.width = Math.max(1, Math.round(W * dpr)); c.height = Math.round(H * dpr);
    var ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    var n = L.starts.length;
    if (!n || W <= 0) return;
    var a = view.a, b = view.b, k = W / (b - a);
    var acc = new Float64Array(W * 6), mixed = new Uint8Array(W);
    var i = Math.max(lowerBound(L.starts, a) - 1, 0);
    for (; i < n; i++) {
      var s = L.starts[i];
      if (s >= b) break;
      var e = i + 1 < n ? L.starts[i + 1] : D.span;
      if (e <= a) continue;
      var st = L.codes[i] & 7, mx = L.codes[i] & 8;
      var x0 = (Math.max(s, a) - a) * k, x1 = (Math.min(e, b) - a) * k;
      for (var px = Math.floor(x0); px < x1 && px < W; px++) {
        var cover = Math.min(x1, px + 1) - Math.max(x0, px);
        if (cover > 0) { acc[px * 6 + st] += cover; if (mx) mixed[px] = 1; }
      }
    }
    var runStart = -1, runKey = '';
    function flush(end) {
      if (runStart < 0 || runKey === '') return;
      var parts = runKey.split(':');
      ctx.globalAlpha = parts[1] === '1' ? 0.5 : 1;
      ctx.fillStyle = COLORS[+parts[0]];
      ctx.fillRect(runStart, 0, end - runStart, H);
    }
    for (var p = 0; p < W; p++) {
      var best = 0, tot = 0;
      for (var q = 1; q < 6; q++) { tot += acc[p * 6 + q]; if (acc[p * 6 + q] > acc[p * 6 + best]) best = q; }
      var key = tot > 0 ? best + ':' + ((mixed[p] || acc[p * 6 + best] < 0.75 * tot) ? 1 : 0) : '';
      if (key !== runKey) { flush(p); runStart = p; runKey = key; }
    }
    flush(W);
    ctx.globalAlpha = 1;
  }

  // drawMarkers places a lane's markers in view, merging those closer than
  // MERGE_PX into one that shows the most severe and counts the rest.
  function drawMarkers(L, W) {
    L.track.querySelectorAll('.marker,.cursor').forEach(function (m) { m.remove(); });
    var a = view.a, b = view.b, k = W / (b - a), ms = L.marks;
    var frag = document.createDocumentFragment(), group = null;
    function place(g) {
      if (!g) return;
      var m = g.rep, el = document.createElement('div');
      el.className = 'marker c-' + D.cats[m.cat] + (g.count > 1 ? ' agg' : '') + (hl && hl.seq === m.seq ? ' hl' : '');
      el.style.left = g.x + 'px';
      el.dataset.seq = m.seq;
      el.dataset.lane = L.idx;
      el.dataset.i = g.i;
      el.dataset.count = g.count;
      el.dataset.mask = g.mask;
      frag.appendChild(el);
    }
    for (var i = lowerBound(ms, a, true); i < ms.length && ms[i].t <= b; i++) {
      var m = ms[i], x = (m.t - a) * k;
      if (group && x - group.x < MERGE_PX) {
        group.count += m.count; group.mask |= m.mask;
        if (m.cat >= group.rep.cat) { group.rep = m; group.i = i; }
        continue;
      }
      place(group);
      group = { x: x, rep: m, i: i, count: m.count, mask: m.mask };
    }
    place(group);
    if (hl && hl.lane === L.idx && hl.t >= a && hl.t <= b) {
      var cur = document.createElement('div');
      cur.className = 'cursor';
      cur.style.left = ((hl.t - a) * k) + 'px';
      frag.appendChild(cur);
    }
    L.track.appendChild(frag);
  }

  function clearLane(L) {
    if (L.canvas) { L.canvas.remove(); L.canvas = null; }
    L.track.querySelectorAll('.marker,.cursor').forEach(function (m) { m.remove(); });
  }

  var ticks = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3,
    1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 172800e3, 604800e3, 1209600e3, 2592000e3];

  function drawAxis(W) {
    var axis = document.getElementById('axis');
    axis.textContent = '';
    var a = view.a, b = view.b, k = W / (b - a), step = ticks[ticks.length - 1];
    for (var i = 0; i < ticks.length; i++) { if (ticks[i] * k >= 110) { step = ticks[i]; break; } }
    // Ticks fall on round wall-clock times (UTC).
    var first = Math.ceil((D.t0 + a) / step) * step - D.t0;
    for (var t = first; t <= b; t += step) {
      var s = fmt(t), label;
      if (step >= 86400e3) label = s.slice(0, 10);
      else if (step >= 60e3) label = s.slice(5, 16);
      else if (step >= 1e3) label = s.slice(11, 19);
      else label = s.slice(11, 23);
      var el = document.createElement('div');
      el.className = 'tick';
      el.style.left = ((t - a) * k) + 'px';
      el.textContent = label;
      axis.appendChild(el);
    }
    document.getElementById('range').textContent = fmt(a) + ' – ' + fmt(b) + ' UTC (' + fmtDur(b - a) + ')';
  }

  var queued = false;
  function render() {
    queued = false;
    var W = trackW();
    drawAxis(W);
    var h = laneH(), top = lanesEl.scrollTop, vh = lanesEl.clientHeight || window.innerHeight;
    var from = Math.max(0, Math.floor(top / h) - 2), to = Math.min(all.length, Math.ceil((top + vh) / h) + 2);
    var now = new Set();
    for (var i = from; i < to; i++) {
      var L = all[i];
      drawBands(L, W);
      drawMarkers(L, W);
      now.add(i);
    }
    rendered.forEach(function (i) { if (!now.has(i)) clearLane(all[i]); });
    rendered = now;
  }
  // Redraw on the next frame; the timer is for pages that get no frames
  // (a hidden tab, a headless browser), which would otherwise never redraw.
  function renderQueued() { if (queued) render(); }
  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(renderQueued);
    setTimeout(renderQueued, 100);
  }
  all.forEach(function (L, i) { L.idx = i; });

  // The view may reach a little past the window so that markers at its
  // very start and end are drawn whole.
  function pad() { return Math.max(D.span, 1) * 0.01; }
  function setView(a, b) {
    var span = Math.max(D.span, 1), p = pad(), w = Math.min(Math.max(b - a, 10), span + 2 * p);
    a = Math.min(Math.max(a, -p), span + p - w);
    view.a = a; view.b = a + w;
    schedule();
  }
  function zoom(f, center) {
    if (center === undefined) center = (view.a + view.b) / 2;
    setView(center - (center - view.a) * f, center + (view.b - center) * f);
  }
  function timeAt(clientX) {
    var r = all[0].track.getBoundingClientRect();
    return view.a + (clientX - r.left) / r.width * (view.b - view.a);
  }

  document.getElementById('zoom-all').onclick = function () { setView(-pad(), D.span + pad()); };
  document.getElementById('zoom-in').onclick = function () { zoom(0.5); };
  document.getElementById('zoom-out').onclick = function () { zoom(2); };
  document.getElementById('pan-left').onclick = function () { var w = view.b - view.a; setView(view.a - w / 2, view.b - w / 2); };
  document.getElementById('pan-right').onclick = function () { var w = view.b - view.a; setView(view.a + w / 2, view.b + w / 2); };
  document.getElementById('last-hour').onclick = function () { setView(D.span - 3600e3, D.span); };
  document.getElementById('last-day').onclick = function () { setView(D.span - 86400e3, D.span); };

  function onWheel(ev) {
    var overAxis = ev.currentTarget.id === 'axis';
    if (!overAxis && !ev.ctrlKey && !ev.altKey) return; // plain wheel scrolls the lanes
    ev.preventDefault();
    zoom(ev.deltaY > 0 ? 1.25 : 0.8, timeAt(ev.clientX));
  }
  lanesEl.addEventListener('wheel', onWheel, { passive: false });
  document.getElementById('axis').addEventListener('wheel', onWheel, { passive: false });
  lanesEl.addEventListener('scroll', schedule);
  window.addEventListener('resize', schedule);

  var drag = null;
  lanesEl.addEventListener('mousedown', function (ev) {
    if (ev.button !== 0 || ev.target.classList.contains('marker') || !ev.target.closest('.track')) return;
    drag = { x: ev.clientX, a: view.a, b: view.b, moved: false, track: ev.target.closest('.track') };
    ev.preventDefault();
  });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 2) { drag.moved = true; drag.track.classList.add('dragging'); }
    var dt = dx / trackW() * (drag.b - drag.a);
    setView(drag.a - dt, drag.b - dt);
  });
  window.addEventListener('mouseup', function () {
    if (drag) drag.track.classList.remove('dragging');
    drag = null;
  });

  // Tooltip.
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  function rowOf(seq) { return document.querySelector('#events tr[data-seq="' + seq + '"]'); }
  function showTip(el, pin) {
    var L = all[+el.dataset.lane], m = L.marks[+el.dataset.i], count = +el.dataset.count, mask = +el.dataset.mask;
    var h = '<b>' + esc(D.types[m.typ] || '?') + '</b> · ' + esc(L.name || 'daemon') + ' · seq ' + m.seq + (m.stale ? ' · stale' : '') +
      '<br>' + esc(fmt(m.t)) + ' UTC';
    if (D.strs[m.cause]) h += '<br>cause: ' + esc(D.strs[m.cause]);
    if (D.strs[m.actor]) h += '<br>actor: ' + esc(D.strs[m.actor]);
    if (D.strs[m.detail]) h += '<br>' + esc(D.strs[m.detail]);
    if (count > 1) {
      var cats = D.cats.filter(function (c, i) { return mask & (1 << i); });
      h += '<br><span class="more">and ' + (count - 1) + ' more event' + (count > 2 ? 's' : '') + ' here (' + esc(cats.join(', ')) + '); zoom in or narrow the window to separate them</span>';
    }
    if (pin && !rowOf(m.seq)) h += '<br><span class="more">not in the event table: narrow with --since/--until or --worker</span>';
    tip.innerHTML = h;
    tip.hidden = false;
    var r = el.getBoundingClientRect();
    tip.style.left = Math.min(r.left + 12, window.innerWidth - 470) + 'px';
    tip.style.top = (r.bottom + 6) + 'px';
    tip.classList.toggle('pinned', !!pin);
    pinned = !!pin;
  }
  lanesEl.addEventListener('mouseover', function (ev) {
    if (!pinned && ev.target.classList.contains('marker')) showTip(ev.target, false);
  });
  lanesEl.addEventListener('mouseout', function (ev) {
    if (!pinned && ev.target.classList.contains('marker')) tip.hidden = true;
  });
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') { pinned = false; tip.hidden = true; } });

  lanesEl.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t.classList.contains('marker')) {
      showTip(t, true);
      var L = all[+t.dataset.lane], m = L.marks[+t.dataset.i];
      hl = { seq: m.seq, lane: L.idx, t: m.t };
      lanesEl.querySelectorAll('.marker.hl').forEach(function (x) { x.classList.remove('hl'); });
      t.classList.add('hl');
      var row = rowOf(m.seq);
      if (row) {
        if (row.style.display === 'none') { clearFilters(); }
        selectRow(row);
        row.scrollIntoView({ block: 'center' });
        row.classList.remove('flash'); void row.offsetWidth; row.classList.add('flash');
      }
      return;
    }
    if (pinned && !(drag && drag.moved)) { pinned = false; tip.hidden = true; }
    if (t.classList.contains('label')) {
      document.getElementById('f-worker').value = t.parentNode.dataset.worker;
      applyFilters();
      document.getElementById('events-section').scrollIntoView();
    }
  });

  // The table.
  var tbody = document.querySelector('#events tbody');
  var selected = null;
  function selectRow(row) {
    if (selected) selected.classList.remove('sel');
    selected = row;
    row.classList.add('sel');
  }
  function showEvent(seq, worker, t) {
    var idx = byName[worker];
    if (idx === undefined) return;
    hl = { seq: seq, lane: idx, t: t };
    if (t < view.a || t > view.b) { var w = view.b - view.a; setView(t - w / 2, t + w / 2); }
    var h = laneH();
    lanesEl.scrollTop = Math.max(0, idx * h - lanesEl.clientHeight / 2);
    document.getElementById('timeline').scrollIntoView({ block: 'nearest' });
    schedule();
  }
  tbody.addEventListener('click', function (ev) {
    var row = ev.target.closest('tr');
    if (!row) return;
    selectRow(row);
    showEvent(+row.dataset.seq, row.dataset.worker, +row.dataset.t);
  });

  var fWorker = document.getElementById('f-worker'), fType = document.getElementById('f-type'),
    fText = document.getElementById('f-text'), fMarked = document.getElementById('f-marked');
  function applyFilters() {
    var w = fWorker.value, ty = fType.value, tx = fText.value.toLowerCase(), mk = fMarked.checked, shown = 0;
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (w === '*' || r.dataset.worker === w) && (ty === '*' || r.dataset.type === ty) &&
        (!mk || r.classList.contains('marked')) && (!tx || r.textContent.toLowerCase().indexOf(tx) >= 0);
      r.style.display = ok ? '' : 'none';
      if (ok) shown++;
    }
    document.getElementById('f-count').textContent = shown + ' of ' + rows.length + ' rows';
  }
  function clearFilters() { fWorker.value = '*'; fType.value = '*'; fText.value = ''; fMarked.checked = false; applyFilters(); }
  [fWorker, fType, fMarked].forEach(function (el) { el.addEventListener('change', applyFilters); });
  fText.addEventListener('input', applyFilters);
  document.getElementById('f-clear').onclick = clearFilters;

  // The summary: click a row to see its worker; click a header to sort.
  var sbody = document.querySelector('#summary tbody');
  sbody.addEventListener('click', function (ev) {
    var row = ev.target.closest('tr');
    if (!row) return;
    fWorker.value = row.dataset.worker;
    applyFilters();
    var idx = byName[row.dataset.worker];
    if (idx !== undefined) { lanesEl.scrollTop = Math.max(0, idx * laneH() - lanesEl.clientHeight / 2); }
    document.getElementById('timeline').scrollIntoView();
  });
  document.querySelectorAll('#summary th').forEach(function (th, col) {
    var dir = 1;
    th.addEventListener('click', function () {
      var rows = Array.prototype.slice.call(sbody.rows);
      rows.sort(function (x, y) {
        var a = x.cells[col], b = y.cells[col];
        if (a.dataset.v !== undefined) return (a.dataset.v - b.dataset.v) * dir;
        return a.textContent.localeCompare(b.textContent) * dir;
      });
      dir = -dir;
      rows.forEach(function (r) { sbody.appendChild(r); });
    });
  });

  // Nothing is filtered yet: only the count needs showing.
  document.getElementById('f-count').textContent = tbody.rows.length + ' of ' + tbody.rows.length + ' rows';
  render();
  // When the page became usable, in ms since navigation: tests read it.
  document.body.dataset.readyMs = Math.round(performance.now());
})();
