// Studio Redis dashboard: plain JavaScript, no build step. Data arrives as
// Server-Sent Events (a "history" event, then a "snapshot" every second);
// when the stream fails the page polls /data every 5 s and tries the
// stream again every 30 s. Every value is written with textContent.
(function () {
  'use strict';

  var BASE = '/studio/redis';
  var MAX_POINTS = 3600;          // per series: one hour of 1 s points
  var STALE_MS = 3000;            // live stream: stale after 3 s without data
  var POLL_MS = 5000;             // fallback polling period
  var RETRY_SSE_MS = 30000;       // while polling, try the stream again
  var KEYS = ['t', 'up', 'p50', 'p95', 'p99', 'ops', 'sops', 'hit', 'l1', 'rh', 'mem', 'max', 'err', 'ev', 'cc'];

  var cols = {};                  // column arrays of the history, by key
  KEYS.forEach(function (k) { cols[k] = []; });
  var windowSec = Number(localStorage.getItem('studio-window')) || 900;
  var charts = {};
  var hotTrend = {};              // display key -> recent per-minute counts
  var state = { mode: 'connecting', lastFrameAt: 0, frames: 0, firstDataMs: null, historyPoints: 0, es: null, pollTimer: null, retryTimer: null, sseErrors: 0, last: null };
  window.__studio = state;        // read by the browser tests
  state.cols = cols;
  state.charts = charts;

  function $(id) { return document.getElementById(id); }
  function text(id, s) { var el = $(id); if (el) el.textContent = s; return el; }
  function setRaw(el, v) { if (el) el.setAttribute('data-raw', String(v)); }
  function el(tag, cls, s) { var e = document.createElement(tag); if (cls) e.className = cls; if (s !== undefined) e.textContent = s; return e; }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  // ---- formatting: every number carries its unit ----
  function fmtPct(v, d) { return isNum(v) ? (v * 100).toFixed(d === undefined ? 1 : d) + ' %' : '–'; }
  function fmtMs(v) {
    if (!isNum(v)) return '–';
    return (v < 1 ? v.toFixed(3) : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + ' ms';
  }
  function fmtInt(v) { return isNum(v) ? Math.round(v).toLocaleString('en-US') : '–'; }
  function fmtRate(v, unit) { return isNum(v) ? (v < 10 ? v.toFixed(1) : fmtInt(v)) + ' ' + unit : '–'; }
  function fmtBytes(v) {
    if (!isNum(v)) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + u[i];
  }
  function fmtDur(sec) {
    if (!isNum(sec)) return '–';
    if (sec < 60) return sec.toFixed(sec < 10 ? 2 : 1) + ' s';
    if (sec < 3600) return Math.floor(sec / 60) + ' min ' + Math.round(sec % 60) + ' s';
    if (sec < 86400) return Math.floor(sec / 3600) + ' h ' + Math.round((sec % 3600) / 60) + ' min';
    return Math.floor(sec / 86400) + ' d ' + Math.round((sec % 86400) / 3600) + ' h';
  }
  function fmtTime(iso) {
    if (!iso) return '–';
    var d = new Date(iso);
    if (isNaN(d.getTime()) || d.getFullYear() < 2000) return '–';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
  function ago(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime()) || d.getFullYear() < 2000) return '';
    return fmtDur(Math.max(0, (Date.now() - d.getTime()) / 1000)) + ' ago';
  }
  function cls(elm, c) { elm.classList.remove('good', 'warn', 'bad'); if (c) elm.classList.add(c); }

  // ---- theme ----
  var THEMES = ['auto', 'dark', 'light'];
  function applyTheme(t) {
    if (t === 'auto') document.documentElement.removeAttribute('data-theme');
    else document.documentElement.setAttribute('data-theme', t);
    text('theme', 'Theme: ' + t);
  }
  function cssVar(n) { return getComputedStyle(document.documentElement).getPropertyValue(n).trim() || '#888'; }

  // ---- charts ----
  var CHARTS = [
    { id: 'latency', el: 'c-latency', unit: 'ms', series: [['p50', 'p50', '--s1'], ['p95', 'p95', '--s2'], ['p99', 'p99', '--s3']], fmt: function (v) { return fmtMs(v); } },
    { id: 'throughput', el: 'c-throughput', unit: 'ops/s', series: [['ops', 'client ops/s', '--s1'], ['sops', 'server ops/s', '--s2']], fmt: function (v) { return fmtRate(v, 'ops/s'); } },
    { id: 'hitrate', el: 'c-hitrate', unit: '%', scale: 100, series: [['hit', 'L1+Redis', '--s1'], ['l1', 'L1 (in-process)', '--s2'], ['rh', 'Redis', '--s4']], fmt: function (v) { return isNum(v) ? v.toFixed(1) + ' %' : '–'; } },
    { id: 'memory', el: 'c-memory', unit: 'MiB', scale: 1 / 1048576, series: [['mem', 'used', '--s1'], ['max', 'maxmemory', '--s3', 'no limit']], fmt: function (v) { return isNum(v) ? v.toFixed(1) + ' MiB' : '–'; } },
    { id: 'errors', el: 'c-errors', unit: '%', scale: 100, series: [['err', 'error rate', '--s3']], fmt: function (v) { return isNum(v) ? v.toFixed(2) + ' %' : '–'; } }
  ];

  function chartSize(box) { return { width: Math.max(200, box.clientWidth), height: window.innerWidth < 600 ? 160 : 200 }; }

  // The legend shows the point under the cursor; with the cursor off the
  // chart (idx null) it shows the latest point that has a value, rather
  // than uPlot's "--". A series with no value at all says so (empty).
  function lastValued(d) {
    for (var i = d.length - 1; i >= 0; i--) if (d[i] !== null && d[i] !== undefined) return d[i];
    return null;
  }
  function legendValue(fmt, empty) {
    return function (u, v, si, idx) {
      if (idx === null || idx === undefined) v = lastValued(u.data[si] || []);
      return v === null || v === undefined ? empty : fmt(v);
    };
  }
  function fmtClock(sec) {
    return new Date(sec * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function makeCharts() {
    if (typeof uPlot === 'undefined') return;
    var axisStroke = cssVar('--muted'), grid = cssVar('--line');
    CHARTS.forEach(function (c) {
      var box = $(c.el);
      if (charts[c.id]) { charts[c.id].destroy(); }
      box.textContent = '';
      var series = [{ label: 'Time', value: legendValue(fmtClock, '–') }];
      c.series.forEach(function (s) {
        series.push({ label: s[1], stroke: cssVar(s[2]), width: 1.5, spanGaps: false, value: legendValue(c.fmt, s[3] || '–') });
      });
      var opts = Object.assign(chartSize(box), {
        series: series,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: { x: { time: true }, y: { range: function (u, mn, mx) { return [Math.min(0, mn || 0), mx > 0 ? mx * 1.1 : 1]; } } },
        axes: [
          { stroke: axisStroke, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, space: 80 },
          { stroke: axisStroke, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 60,
            values: function (u, vals) { return vals.map(function (v) { return v + (c.unit === '%' ? ' %' : c.unit === 'ms' ? ' ms' : ''); }); } }
        ]
      });
      charts[c.id] = new uPlot(opts, chartData(c), box);
    });
  }

  // chartData returns the window's slice of the columns for chart c.
  function chartData(c) {
    var t = cols.t, n = t.length, from = 0;
    if (n) {
      var min = t[n - 1] - windowSec, lo = 0, hi = n;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (t[mid] < min) lo = mid + 1; else hi = mid; }
      from = lo;
    }
    var data = [t.slice(from)];
    c.series.forEach(function (s) {
      var src = cols[s[0]], out = new Array(n - from);
      for (var i = from; i < n; i++) { var v = src[i]; out[i - from] = (v === null || v === undefined) ? null : c.scale ? v * c.scale : v; }
      data.push(out);
    });
    return data;
  }

  function redraw() {
    CHARTS.forEach(function (c) { if (charts[c.id]) charts[c.id].setData(chartData(c)); });
  }

  function addPoint(p) {
    if (!p || !isNum(p.t)) return;
    var n = cols.t.length;
    if (n && p.t <= cols.t[n - 1]) return;  // already have it
    KEYS.forEach(function (k) { cols[k].push(p[k] === undefined ? null : p[k]); });
    if (cols.t.length > MAX_POINTS) {
      var drop = cols.t.length - MAX_POINTS;
      KEYS.forEach(function (k) { cols[k].splice(0, drop); });
    }
  }

  function applyHistory(h) {
    if (!h || !h.points) return;
    // The server's recent rates of each hot key: a page just opened (or
    // reconnected) draws the trend at once instead of growing it frame by
    // frame. A longer trend the page already holds is kept.
    var ht = h.hot_trends || {};
    Object.keys(ht).forEach(function (k) {
      if (Array.isArray(ht[k]) && (!hotTrend[k] || hotTrend[k].length < ht[k].length)) hotTrend[k] = ht[k].slice(-60);
    });
    var pts = h.points, n = (pts.t || []).length;
    KEYS.forEach(function (k) { cols[k] = (pts[k] || new Array(n).fill(null)).slice(-MAX_POINTS); });
    state.cols = cols;
    state.historyPoints = n;
    redraw();
  }

  // ---- rendering a frame ----
  function renderBanner(f) {
    var b = $('banner');
    b.setAttribute('data-status', f.status || 'unknown');
    text('status', f.status || 'unknown');
    var r = f.redis || {};
    text('mode', [r.mode, r.version ? 'Redis ' + r.version : '', r.master ? 'master ' + r.master : ''].filter(Boolean).join(' · '));
    setRaw($('mode'), r.mode || '');
    var ul = $('reasons'); ul.textContent = '';
    (f.reasons || []).forEach(function (s) { ul.appendChild(el('li', '', s)); });
  }

  function renderCards(f) {
    var c = f.cache || {}, l = f.latency_ms || {}, e = f.errors || {}, r = f.redis || {}, p = f.pool || {};
    var v = text('v-hit-rate', c.available ? fmtPct(c.hit_rate) : 'n/a');
    setRaw(v, c.hit_rate); cls(v, !c.available || !c.lookups ? '' : c.hit_rate >= 0.9 ? 'good' : c.hit_rate >= 0.8 ? 'warn' : 'bad');
    text('s-hit-rate', c.available ? fmtInt(c.lookups) + ' lookups (' + (c.window === '1m' ? 'last minute' : 'since start') + ')' : 'no session cache');
    v = text('v-ops', fmtRate(f.throughput_ops, 'ops/s')); setRaw(v, f.throughput_ops);
    text('s-ops', 'client commands · server ' + fmtRate(r.ops_per_sec, 'ops/s'));
    setRaw(text('v-p50', fmtMs(l.p50)), l.p50); setRaw(text('v-p95', fmtMs(l.p95)), l.p95); setRaw(text('v-p99', fmtMs(l.p99)), l.p99);
    text('s-latency', fmtInt(l.count) + ' timed commands');
    v = text('v-errors', fmtPct(e.rate, 2)); setRaw(v, e.rate); cls(v, e.rate > 0.05 ? 'bad' : e.rate > 0.01 ? 'warn' : 'good');
    text('s-errors', fmtInt(e.total) + ' errors of ' + fmtInt(e.commands_total) + ' commands since start');
    v = text('v-breaker', f.circuit_breaker || 'unknown'); setRaw(v, f.circuit_breaker);
    cls(v, f.circuit_breaker === 'closed' ? 'good' : f.circuit_breaker === 'open' ? 'bad' : f.circuit_breaker === 'half-open' ? 'warn' : '');
    text('s-breaker', f.circuit_breaker === 'open' ? 'Redis is bypassed: sessions come from the store' : 'Redis commands pass');
    v = text('v-memory', fmtBytes(r.used_memory_bytes)); setRaw(v, r.used_memory_bytes);
    var frac = r.maxmemory_bytes > 0 ? r.used_memory_bytes / r.maxmemory_bytes : null;
    cls(v, frac === null ? '' : frac > 0.9 ? 'bad' : frac > 0.75 ? 'warn' : 'good');
    text('s-memory', r.maxmemory_bytes > 0 ? 'of ' + fmtBytes(r.maxmemory_bytes) + ' max (' + fmtPct(frac) + ') · ' + (r.maxmemory_policy || '') : 'no maxmemory limit');
    v = text('v-evictions', fmtInt(r.evicted_keys) + ' keys'); setRaw(v, r.evicted_keys);
    text('s-evictions', 'evicted since the server started');
    v = text('v-clients', fmtInt(r.connected_clients) + ' clients'); setRaw(v, r.connected_clients);
    text('s-clients', r.maxclients ? 'of ' + fmtInt(r.maxclients) + ' max' : '');
    v = text('v-pool', fmtInt(p.total_conns) + ' conns'); setRaw(v, p.total_conns);
    text('s-pool', fmtInt(p.idle_conns) + ' idle · ' + fmtInt(p.timeouts) + ' timeouts · ' + fmtInt(p.wait_count) + ' waits');
  }

  var SPARK = '▁▂▃▄▅▆▇█';
  function sparkline(vals) {
    var mx = Math.max.apply(null, vals.concat([1e-9])), s = '';
    vals.forEach(function (v) { s += SPARK[Math.min(7, Math.floor((v / mx) * 7.999))]; });
    return s;
  }

  function renderHotKeys(f) {
    var keys = f.hotkeys || [], body = $('hotkeys-body');
    body.textContent = '';
    $('hotkeys-empty').hidden = keys.length > 0;
    var seen = {};
    keys.forEach(function (k, i) {
      var hist = hotTrend[k.key] || (hotTrend[k.key] = []);
      if (state.lastHotAt !== f.time) { hist.push(k.per_min || 0); if (hist.length > 60) hist.shift(); }
      seen[k.key] = true;
      var tr = el('tr'); tr.setAttribute('data-key', k.key);
      tr.appendChild(el('td', 'num', String(i + 1)));
      var kc = el('td', 'hk-key'), ks = el('span', 'k', k.key);
      ks.title = k.key;
      kc.appendChild(ks); tr.appendChild(kc);
      var pm = el('td', 'num', fmtInt(k.per_min) + ' /min'); setRaw(pm, k.per_min); tr.appendChild(pm);
      var td = el('td', 'trend'), first = hist[0], last = hist[hist.length - 1];
      td.appendChild(el('span', 'spark', sparkline(hist.slice(-16))));
      var arrow = hist.length < 3 ? '' : last > first * 1.1 ? ' ↑' : last < first * 0.9 ? ' ↓' : ' →';
      td.appendChild(el('span', arrow === ' ↑' ? 'up' : arrow === ' ↓' ? 'down' : '', arrow));
      tr.appendChild(td);
      var sh = el('td'), inst = k.instances || [], total = 0;
      inst.forEach(function (x) { total += x.count; });
      if (inst.length && total > 0) {
        var bar = el('div', 'share'), labels = [];
        inst.forEach(function (x) {
          var s = el('span'); s.style.width = (100 * x.count / total).toFixed(1) + '%'; s.title = x.instance;
          bar.appendChild(s);
          labels.push(x.instance + ' ' + (100 * x.count / total).toFixed(0) + ' %');
        });
        sh.appendChild(el('div', 'shares', labels.join(' · ')));
        sh.appendChild(bar);
      } else {
        sh.appendChild(el('span', 'shares', (inst.length === 1 ? inst[0].instance : 'one instance') + ' 100 %'));
      }
      tr.appendChild(sh);
      body.appendChild(tr);
    });
    Object.keys(hotTrend).forEach(function (k) { if (!seen[k]) delete hotTrend[k]; });
    state.lastHotAt = f.time;
  }

  function alertItem(a) {
    var li = el('li');
    li.setAttribute('data-name', a.name); li.setAttribute('data-state', a.state); li.setAttribute('data-severity', a.severity || '');
    var head = el('div');
    head.appendChild(el('span', 'name', a.name));
    head.appendChild(document.createTextNode(' '));
    head.appendChild(el('span', 'tag', a.severity || 'info'));
    if (a.silenced) { head.appendChild(document.createTextNode(' ')); head.appendChild(el('span', 'tag', 'silenced')); }
    li.appendChild(head);
    if (a.summary) li.appendChild(el('div', '', a.summary));
    var meta = el('div', 'meta');
    if (a.state === 'resolved') meta.textContent = 'resolved ' + fmtTime(a.ends_at || a.since) + ' (' + ago(a.ends_at || a.since) + ')';
    else meta.textContent = 'firing since ' + fmtTime(a.since) + ' (' + ago(a.since) + ')';
    if (a.runbook && /^(https?:\/\/|\/)/.test(a.runbook)) {
      meta.appendChild(document.createTextNode(' · '));
      var link = el('a', '', 'runbook'); link.href = a.runbook; link.rel = 'noopener noreferrer'; link.target = '_blank';
      meta.appendChild(link);
    }
    li.appendChild(meta);
    return li;
  }

  function renderAlerts(f) {
    var firing = $('alerts-firing'), resolved = $('alerts-resolved'), nf = 0;
    firing.textContent = ''; resolved.textContent = '';
    (f.alerts || []).forEach(function (a) {
      if (a.state === 'firing') { firing.appendChild(alertItem(a)); nf++; } else resolved.appendChild(alertItem(a));
    });
    if (!nf) firing.appendChild(el('li', 'empty', 'Nothing is firing.'));
    if (!resolved.children.length) resolved.appendChild(el('li', 'empty', 'Nothing resolved recently.'));
    setRaw(text('alerts-firing-count', String(nf)), nf);
  }

  function row(tbody, cells) {
    var tr = el('tr');
    cells.forEach(function (c) { tr.appendChild(el('td', c[1] || '', c[0])); });
    tbody.appendChild(tr);
    return tr;
  }

  // renderFailover shows the last failover: old → new master, when, and
  // the figure an operator cares about first: how long writes were
  // unavailable as Studio's own commands saw it (the master's last answer
  // before the failover to the first answer after), then the Sentinels'
  // detection → switch time, named as such.
  function renderFailover(fo, total, none) {
    var dd = $('topo-failover');
    dd.textContent = '';
    setRaw(dd, fo ? fo.to : '');
    if (!fo) { dd.textContent = none || 'none seen'; return; }
    dd.appendChild(el('div', '', fo.from + ' → ' + fo.to + ' at ' + fmtTime(fo.switched_at) +
      ' (' + total + (total === 1 ? ' failover' : ' failovers') + ' seen)'));
    var gap = el('div', 'gap'), st = fo.write_gap_status || '';
    gap.id = 'topo-write-gap';
    gap.setAttribute('data-status', st);
    setRaw(gap, fo.write_gap_seconds || 0);
    var head = st === 'measured' ? 'Writes unavailable ' + fmtDur(fo.write_gap_seconds) :
      st === 'measuring' ? (fo.write_gap_seconds > 0 ? 'Writes unavailable for ' + fmtDur(fo.write_gap_seconds) + ' so far' : 'Measuring the write gap…') :
      st === 'none' ? 'No command of Studio\'s failed' : '';
    if (head) {
      var b = el('strong', st === 'measured' || st === 'none' ? '' : 'bad', head);
      b.title = 'As Studio\'s own commands saw it: from the old master\'s last answer to the first answer after the failover';
      gap.appendChild(b);
      if (fo.failed_commands > 0) gap.appendChild(el('span', 'muted', ' · ' + fmtInt(fo.failed_commands) + (fo.failed_commands === 1 ? ' command' : ' commands') + ' failed'));
    }
    if (fo.duration_seconds > 0) {
      var sd = el('div', 'muted', 'Sentinel detection → switch ' + fmtDur(fo.duration_seconds));
      sd.title = 'From the first Sentinel marking the master down (+sdown) to the first +switch-master: the Sentinels\' part, not the outage';
      gap.appendChild(sd);
    }
    dd.appendChild(gap);
  }

  function renderTopology(f) {
    var t = f.topology, r = f.redis || {};
    var reps = $('topo-replicas').tBodies[0], sens = $('topo-sentinels').tBodies[0];
    reps.textContent = ''; sens.textContent = '';
    var master = (t && t.master) || r.master || '–';
    setRaw(text('topo-master', master), master);
    var st = $('topo-master-state');
    if (t) {
      st.textContent = t.master_reachable ? 'reachable' : 'unreachable';
      st.className = 'tag ' + (t.master_reachable ? 'ok' : 'bad');
      text('topo-since', t.master_since ? fmtTime(t.master_since) + ' (' + ago(t.master_since) + ')' : '–');
      renderFailover(t.last_failover, t.failovers_total || 0);
      (t.replicas || []).forEach(function (x) {
        row(reps, [[x.addr, 'addr'], [x.link + (x.flags && x.flags.length ? ' (' + x.flags.join(', ') + ')' : ''), x.link === 'ok' ? 'down' : 'up'],
          [x.lag_bytes >= 0 ? fmtInt(x.lag_bytes) + ' B' : '–', 'num'], [x.lag_seconds >= 0 ? x.lag_seconds + ' s' : '–', 'num']]);
      });
      (t.sentinels || []).forEach(function (x) {
        row(sens, [[x.addr, 'addr'], [x.status, x.status === 'ok' ? 'down' : 'up'], [x.quorum ? (x.quorum_ok ? 'ok' : 'NO') + ' (quorum ' + x.quorum + ')' : '–']]);
      });
      setRaw(text('topo-sentinel-count', String((t.sentinels || []).length)), (t.sentinels || []).length);
    } else {
      st.textContent = r.role || ''; st.className = 'tag';
      text('topo-since', r.uptime_seconds ? 'up ' + fmtDur(r.uptime_seconds) : '–');
      renderFailover(null, 0, r.mode === 'sentinel' ? 'none seen' : 'not applicable (' + (r.mode || 'unknown') + ')');
      (r.replicas || []).forEach(function (x) {
        row(reps, [[x.addr, 'addr'], [x.state], ['–', 'num'], [x.lag_seconds >= 0 ? x.lag_seconds + ' s' : '–', 'num']]);
      });
      (r.sentinels || []).forEach(function (x) { row(sens, [[x.addr, 'addr'], [x.status], ['–']]); });
      setRaw(text('topo-sentinel-count', String((r.sentinels || []).length)), (r.sentinels || []).length);
    }
    if (!reps.children.length) row(reps, [['no replicas', 'empty'], [''], [''], ['']]);
    if (!sens.children.length) row(sens, [['no Sentinels', 'empty'], [''], ['']]);
  }

  function onFrame(f) {
    state.lastFrameAt = Date.now();
    state.frames++;
    state.last = f;
    if (state.firstDataMs === null) {
      state.firstDataMs = performance.now();
      try { performance.mark('studio-first-data'); } catch (e) { /* old browser */ }
    }
    renderBanner(f); renderCards(f); renderHotKeys(f); renderAlerts(f); renderTopology(f);
    addPoint(f.point);
    redraw();
    text('updated', 'updated ' + fmtTime(f.time));
    checkStale();
  }

  // ---- connection: SSE, polling fallback, stale marker ----
  function setMode(m, label) {
    state.mode = m;
    var l = $('live'); l.setAttribute('data-mode', m); l.textContent = label || m;
  }

  function expired() {
    stopPolling(); if (state.es) { state.es.close(); state.es = null; }
    setMode('expired', 'logged out');
    var b = $('banner'); b.setAttribute('data-status', 'down');
    text('status', 'session ended');
    var ul = $('reasons'); ul.textContent = '';
    var li = el('li'), a = el('a', '', 'Log in again'); a.href = BASE; li.appendChild(a); ul.appendChild(li);
  }

  function connectSSE() {
    if (state.es) state.es.close();
    var es = new EventSource(BASE + '/events');
    state.es = es;
    es.addEventListener('open', function () { state.sseErrors = 0; setMode('live', 'live'); });
    es.addEventListener('history', function (e) { applyHistory(JSON.parse(e.data)); });
    es.addEventListener('snapshot', function (e) { if (state.mode !== 'live') setMode('live', 'live'); onFrame(JSON.parse(e.data)); });
    es.addEventListener('expired', function () { expired(); });
    es.addEventListener('error', function () {
      state.sseErrors++;
      if (es.readyState === EventSource.CLOSED || state.sseErrors >= 3) {
        es.close(); if (state.es === es) state.es = null;
        startPolling();
      } else {
        setMode('reconnecting', 'reconnecting…');
      }
    });
  }

  function fetchJSON(path) {
    return fetch(BASE + path, { cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
      if (r.status === 401) { expired(); throw new Error('unauthorized'); }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    });
  }

  function poll() {
    fetchJSON('/data').then(function (f) { if (state.mode !== 'polling') setMode('polling', 'polling every 5 s'); onFrame(f); }).catch(function () { /* stale marker shows it */ });
  }

  function startPolling() {
    if (state.mode === 'expired' || state.pollTimer) return;
    setMode('polling', 'polling every 5 s');
    if (!cols.t.length) fetchJSON('/history').then(applyHistory).catch(function () {});
    poll();
    state.pollTimer = setInterval(poll, POLL_MS);
    state.retryTimer = setTimeout(function () { stopPolling(); connectSSE(); }, RETRY_SSE_MS);
  }

  function stopPolling() {
    if (state.pollTimer) { clearInterval(state.pollTimer); state.pollTimer = null; }
    if (state.retryTimer) { clearTimeout(state.retryTimer); state.retryTimer = null; }
  }

  function checkStale() {
    if (state.mode === 'expired') return;
    var limit = state.mode === 'polling' ? POLL_MS + STALE_MS : STALE_MS;
    var age = state.lastFrameAt ? Date.now() - state.lastFrameAt : Infinity;
    var stale = state.frames > 0 && age > limit;
    document.body.classList.toggle('stale', stale);
    state.stale = stale;
    if (stale) {
      $('live').setAttribute('data-mode', 'stale');
      $('live').textContent = 'stale · no update for ' + Math.round(age / 1000) + ' s';
    } else if (state.frames > 0) {
      $('live').setAttribute('data-mode', state.mode);
      $('live').textContent = state.mode === 'live' ? 'live' : state.mode === 'polling' ? 'polling every 5 s' : state.mode;
    }
  }

  // ---- controls ----
  function setWindow(sec) {
    windowSec = sec;
    localStorage.setItem('studio-window', String(sec));
    document.querySelectorAll('.window button').forEach(function (b) {
      b.setAttribute('aria-pressed', String(Number(b.getAttribute('data-window')) === sec));
    });
    redraw();
  }

  function init() {
    var theme = localStorage.getItem('studio-theme') || 'auto';
    applyTheme(theme);
    $('theme').addEventListener('click', function () {
      theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
      localStorage.setItem('studio-theme', theme);
      applyTheme(theme);
      makeCharts();
    });
    if (window.matchMedia) {
      window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', function () { if (theme === 'auto') makeCharts(); });
    }
    document.querySelectorAll('.window button').forEach(function (b) {
      b.addEventListener('click', function () { setWindow(Number(b.getAttribute('data-window'))); });
    });
    setWindow([300, 900, 3600].indexOf(windowSec) >= 0 ? windowSec : 900);
    makeCharts();
    var resizeTimer = null;
    window.addEventListener('resize', function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () {
        CHARTS.forEach(function (c) { if (charts[c.id]) charts[c.id].setSize(chartSize($(c.el))); });
      }, 150);
    });
    setInterval(checkStale, 1000);
    if (window.EventSource) connectSSE(); else startPolling();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
