/*
 * The console's script: reads the service's public API every few seconds
 * and draws the page. No library, no build step; text from the API only
 * ever goes into the page as text (textContent), never as markup.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "reconciler.token";
  var PAGE_SIZE = 15;
  var CHART_RUNS = 40;
  var REFRESH_MS = 3000;        /* state, runs, chart */
  var FIGURES_MS = 15000;       /* queue and dashboard: snapshots, refreshed in the background */

  var view = {
    before: null,       /* the page shown: runs older than this id (null: newest) */
    stack: [],          /* the "before" of the pages newer than this one */
    nextBefore: null,
    selected: null,     /* run id whose detail is open */
    detailFinished: false,
    lastFigures: 0,
    timer: null,
    busy: false
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  /* ---- the API ---- */

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function NeedToken() { this.name = "NeedToken"; }

  /* fetch with the bearer token (never in the URL); JSON back, or NeedToken on 401. */
  function api(method, path) {
    var headers = { "Accept": "application/json" };
    var t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    return fetch(path, { method: method, headers: headers, cache: "no-store",
                         credentials: "omit", referrerPolicy: "no-referrer" })
      .then(function (r) {
        if (r.status === 401) throw new NeedToken();
        return r.json().catch(function () { return {}; }).then(function (body) {
          return { status: r.status, body: body };
        });
      });
  }

  /* ---- formatting ---- */

  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    var m = Math.floor(ms / 60000), s = Math.round((ms % 60000) / 1000);
    return m + " min " + (s < 10 ? "0" : "") + s + " s";
  }

  function fmtSpan(sec) {
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return sec + " s";
    if (sec < 3600) return Math.floor(sec / 60) + " min";
    if (sec < 86400) {
      var h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60);
      return h + " h" + (m ? " " + m + " min" : "");
    }
    return Math.floor(sec / 86400) + " d " + Math.floor((sec % 86400) / 3600) + " h";
  }

  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    return fmtSpan((Date.now() - t) / 1000) + " ago";
  }

  function fmtTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso || "–";
    var now = new Date();
    var hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (d.toDateString() === now.toDateString()) return hm;
    /* Older than today: its date, and its year when it is not this one. */
    var day = { month: "short", day: "numeric" };
    if (d.getFullYear() !== now.getFullYear()) day.year = "numeric";
    return d.toLocaleDateString([], day) + " " + hm;
  }

  function fmtNum(n) {
    if (typeof n !== "number") return n === null || n === undefined ? "–" : String(n);
    if (Math.round(n) !== n) return n.toLocaleString("en-US", { maximumFractionDigits: 2 });
    return n.toLocaleString("en-US");
  }

  function badge(status) {
    return el("span", "badge s-" + (status || "none"), status || "–");
  }

  /* ---- notices ---- */

  var noticeTimer = null;
  function notice(kind, text) {
    var n = $("notice");
    n.className = "notice " + kind;
    n.textContent = text;
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { n.className = "notice hidden"; }, 8000);
  }

  function setLive(ok, text) {
    $("live").className = "live " + (ok ? "ok" : "err");
    $("live-text").textContent = text;
  }

  /* ---- the token prompt ---- */

  function askToken(refused) {
    $("app").classList.add("hidden");
    $("login").classList.remove("hidden");
    $("login-error").classList.toggle("hidden", !refused);
    $("btn-run").disabled = $("btn-dry").disabled = true;
    setLive(false, "token needed");
    $("token-input").focus();
  }

  function signedIn() {
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("btn-run").disabled = $("btn-dry").disabled = false;
    $("btn-signout").classList.toggle("hidden", !token());
  }

  /* ---- state tiles ---- */

  function drawState(s) {
    var last = s.lastRun;
    var st = $("last-status");
    var status = s.running ? "running" : last ? last.status : null;
    st.className = "badge s-" + (status || "none");
    st.textContent = status || "no run yet";
    if (s.running) {
      $("last-id").textContent = s.runningId ? "#" + s.runningId : "";
      $("last-meta").textContent = last ? "previous: " + last.status + ", " + ago(last.timestamp)
                                        : "the first run is going on";
    } else if (last) {
      $("last-id").textContent = "#" + last.runId;
      $("last-meta").textContent = last.trigger + (last.dryRun ? " · dry run" : "") + " · " +
        ago(last.timestamp) + " · " + fmtMs(last.durationMs);
    } else {
      $("last-id").textContent = "";
      $("last-meta").textContent = "no run has finished yet";
    }

    var next = $("next-run");
    if (s.nextRunAt) {
      var sec = (Date.parse(s.nextRunAt) - Date.now()) / 1000;
      next.textContent = sec > 1 ? "in " + fmtSpan(sec) : "due now";
      $("next-meta").textContent = "at " + fmtTime(s.nextRunAt) +
        (s.queuedId ? " · manual run #" + s.queuedId + " queued" : "");
    } else {
      next.textContent = s.running ? "after this run" : "–";
      $("next-meta").textContent = s.queuedId ? "manual run #" + s.queuedId + " queued" : "";
    }

    /* The file on disk was refused at the last reload: an older pipeline runs, and the next
       restart would fail on that file. Say so until a reload takes a good file. */
    var banner = $("reload-banner");
    if (s.reload && s.reload.outcome === "refused") {
      banner.textContent = "The pipeline file on disk was refused at its reload (" +
        fmtTime(s.reload.at) + "); the pipeline loaded " + fmtTime(s.reload.lastSuccessAt) +
        " still runs, and a restart would fail: " + (s.reload.error || "");
      banner.classList.remove("hidden");
    } else {
      banner.classList.add("hidden");
    }

    var lock = $("lock-state");
    clear(lock);
    /* Held also after a scheduled run, until its hold ends: no other instance runs meanwhile. */
    var other = !s.lock.held && s.lock.holder ? s.lock.holder : null;
    lock.appendChild(el("span", s.lock.held ? "good" : "", s.lock.held
      ? (s.lock.phase === "hold" ? "held here (after the run)" : "held here (running)")
      : other ? "held elsewhere" : "not held"));
    $("lock-meta").textContent = (s.lock.held && s.lock.until ? "until " + fmtTime(s.lock.until) + " · " : "") +
      (other ? "by " + other.id + " until " + other.until + " UTC · " : "") +
      (s.lock.instance ? "this instance: " + s.lock.instance : "");

    var db = $("db-state");
    clear(db);
    if (s.database.ok) {
      db.appendChild(el("span", "good", "up"));
      db.appendChild(el("span", "muted", s.database.latencyMs !== null
        ? s.database.latencyMs.toFixed(2) + " ms" : ""));
      $("db-meta").textContent = s.database.checkedAt ? "pinged " + ago(s.database.checkedAt) : "";
    } else {
      db.appendChild(el("span", "bad-t", s.database.latencyMs === null ? "not checked yet" : "down"));
      $("db-meta").textContent = s.database.error || "";
    }
  }

  /* ---- the runs table ---- */

  function stepDots(steps) {
    var box = el("span", "steps-dots");
    (steps || []).forEach(function (s) {
      var i = el("i", s.status);
      i.title = s.name + ": " + s.status;
      box.appendChild(i);
    });
    return box;
  }

  function drawRuns(page) {
    var tbody = $("runs-table").tBodies[0];
    clear(tbody);
    page.runs.forEach(function (r) {
      var tr = el("tr");
      tr.dataset.runId = r.runId;
      tr.tabIndex = 0;
      if (r.runId === view.selected) tr.className = "selected";
      /* #/runs/ID: the run's own address, to open or pass on (alerts carry it too). */
      var tdId = el("td", "mono");
      var link = el("a", "run-link", String(r.runId));
      link.href = "#/runs/" + r.runId;
      tdId.appendChild(link);
      tr.appendChild(tdId);
      var tdS = el("td");
      tdS.appendChild(badge(r.status));
      tr.appendChild(tdS);
      tr.appendChild(el("td", null, r.trigger));
      var tdD = el("td", "c-dry");
      if (r.dryRun) tdD.appendChild(el("span", "tag", "dry run"));
      tr.appendChild(tdD);
      var tdT = el("td", "c-started", fmtTime(r.startedAt));
      tdT.title = r.startedAt;
      tr.appendChild(tdT);
      tr.appendChild(el("td", "num", fmtMs(r.durationMs)));
      tr.appendChild(el("td", "num", r.rowsChanged === null || r.rowsChanged === undefined
                                      ? "–" : fmtNum(r.rowsChanged)));
      var tdSteps = el("td", "c-steps");
      tdSteps.appendChild(stepDots(r.steps));
      tr.appendChild(tdSteps);
      tr.addEventListener("click", function () { openRun(r.runId); });
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter") openRun(r.runId); });
      tbody.appendChild(tr);
    });
    $("runs-empty").classList.toggle("hidden", page.runs.length > 0);
    view.nextBefore = page.nextBefore;
    $("page-older").disabled = page.nextBefore === null;
    $("page-newer").disabled = view.stack.length === 0;
    var first = view.stack.length * PAGE_SIZE + 1;
    $("page-info").textContent = page.runs.length
      ? first + "–" + (first + page.runs.length - 1) + " of " + page.total : "";
  }

  /* ---- the chart: duration bars and a rows-changed line, oldest to newest ---- */

  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  var chartRuns = null;
  function drawChart(runs) {
    chartRuns = runs;
    var box = $("chart");
    clear(box);
    runs = runs.filter(function (r) { return r.durationMs !== null; }).slice().reverse();
    if (!runs.length) { box.appendChild(el("p", "empty", "No finished runs yet.")); return; }
    /* Drawn at the box's own width, so that text is never stretched; redrawn on resize. */
    var W = Math.max(280, box.clientWidth || 900), H = W < 600 ? 180 : 220;
    var L = 54, R = 46, T = 12, B = 26;
    var w = W - L - R, h = H - T - B;
    var dMax = niceMax(Math.max.apply(null, runs.map(function (r) { return r.durationMs; })));
    var cMax = niceMax(Math.max.apply(null, runs.map(function (r) { return r.rowsChanged || 0; })));
    var s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H,
                         role: "img", "aria-label": "Run durations and rows changed" });
    for (var g = 0; g <= 4; g++) {
      var y = T + h - (h * g) / 4;
      s.appendChild(svg("line", { x1: L, x2: L + w, y1: y, y2: y, "class": "axis" }));
      s.appendChild(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, fmtMs(dMax * g / 4)));
      s.appendChild(svg("text", { x: L + w + 6, y: y + 4 }, fmtNum(Math.round(cMax * g / 4))));
    }
    var step = w / runs.length, bw = Math.max(2, Math.min(28, step * 0.7));
    var pts = [];
    runs.forEach(function (r, i) {
      var cx = L + step * i + step / 2;
      var bh = Math.max(1, (r.durationMs / dMax) * h);
      var b = svg("rect", { x: cx - bw / 2, y: T + h - bh, width: bw, height: bh, rx: 2,
                            "class": "bar " + r.status + (r.dryRun ? " dry" : "") });
      b.appendChild(svg("title", {}, "#" + r.runId + " " + r.status + (r.dryRun ? " (dry run)" : "") +
        "\n" + fmtMs(r.durationMs) + ", " + fmtNum(r.rowsChanged || 0) + " rows changed\n" +
        fmtTime(r.startedAt)));
      b.addEventListener("click", function () { openRun(r.runId); });
      s.appendChild(b);
      pts.push([cx, T + h - ((r.rowsChanged || 0) / cMax) * h, r]);
      if (i % Math.ceil(runs.length / Math.max(2, Math.floor(w / 70))) === 0)
        s.appendChild(svg("text", { x: cx, y: H - 8, "text-anchor": "middle" }, "#" + r.runId));
    });
    s.appendChild(svg("polyline", { "class": "rows",
      points: pts.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" ") }));
    pts.forEach(function (p) {
      var c = svg("circle", { cx: p[0], cy: p[1], r: 3, "class": "pt" });
      c.appendChild(svg("title", {}, "#" + p[2].runId + ": " + fmtNum(p[2].rowsChanged || 0) +
                                       " rows changed"));
      s.appendChild(c);
    });
    box.appendChild(s);
  }

  /* ---- a run's detail ---- */

  function flatten(obj, prefix, out) {
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k], key = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
      else out.push([key, v]);
    });
    return out;
  }

  function drawDetail(run, brief) {
    var body = $("detail-body");
    clear(body);
    $("detail-title").textContent = "Run #" + (run.runId || brief.runId);
    $("detail-close").classList.remove("hidden");
    var head = el("div", "step-head");
    head.appendChild(badge(run.status));
    if (run.dryRun) head.appendChild(el("span", "tag", "dry run"));
    if (run.interrupted) head.appendChild(el("span", "tag", "interrupted"));
    body.appendChild(head);

    var meta = el("dl", "detail-meta");
    function row(k, v) { meta.appendChild(el("dt", null, k)); meta.appendChild(el("dd", null, v)); }
    row("Trigger", run.trigger);
    row("Started", run.timestamp ? fmtTime(run.timestamp) + " (" + ago(run.timestamp) + ")" :
                   brief && brief.startedAt ? fmtTime(brief.startedAt) : "–");
    row("Duration", fmtMs(run.durationMs));
    row("Rows changed", run.rowsChanged === undefined ? "–" : fmtNum(run.rowsChanged));
    if (run.referenceTime) row("Reference time", run.referenceTime + " " + (run.referenceTimeZone || ""));
    /* tracing.link: the run's trace in the tracing UI (traceUrl is built by the API) */
    if (run.traceUrl) {
      var tl = el("a", null, run.traceId);
      tl.href = run.traceUrl;
      tl.target = "_blank";
      tl.rel = "noopener noreferrer";
      var tdd = el("dd");
      tdd.appendChild(tl);
      meta.appendChild(el("dt", null, "Trace"));
      meta.appendChild(tdd);
    }
    body.appendChild(meta);

    /* errors[] repeats each step's error ("step: why"): show only the run's own here. */
    var stepErr = {};
    (run.steps || []).forEach(function (s) { if (s.error) stepErr[s.name + ": " + s.error] = 1; });
    (run.errors || []).forEach(function (e) {
      if (!stepErr[e]) body.appendChild(el("div", "step-error", e));
    });

    (run.steps || []).forEach(function (s) {
      var box = el("div", "step");
      var h = el("div", "step-head");
      h.appendChild(el("span", "name", s.name));
      if (s.plugin !== s.name) h.appendChild(el("span", "muted", s.plugin));
      h.appendChild(badge(s.status));
      h.appendChild(el("span", "right", fmtMs(s.durationMs) +
        (s.rowsChanged !== undefined ? " · " + fmtNum(s.rowsChanged) + " rows changed" : "")));
      box.appendChild(h);
      var kv = flatten(s.results, "", []);
      if (kv.length) {
        var list = el("div", "kv");
        kv.forEach(function (p) {
          var span = el("span", null, p[0] + " ");
          span.appendChild(el("b", null, typeof p[1] === "number" ? fmtNum(p[1]) : String(p[1])));
          list.appendChild(span);
        });
        box.appendChild(list);
      }
      if (s.error) box.appendChild(el("div", "step-error", s.error));
      body.appendChild(box);
    });
    drawNotifications(body, run.notifications);
    if (run.status !== "running") body.appendChild(runChanges(run, run.runId || brief.runId));
    if (run.status !== "running") {
      var d = el("details", "json");
      d.appendChild(el("summary", null, "Result JSON"));
      d.appendChild(el("pre", "json-text", JSON.stringify(run, null, 2)));
      body.appendChild(d);
    }
  }

  /* What each notify target was told about the run, and how it went (delivered, failed,
   * dropped); written when the delivery ends, so a run just finished may show none yet. */
  function drawNotifications(body, notes) {
    if (!notes || !notes.length) return;
    var box = el("div", "notes");
    box.appendChild(el("div", "sub-h", "Notifications"));
    notes.forEach(function (n) {
      var row = el("div", "note step-head");
      row.appendChild(el("span", "name", n.target));
      row.appendChild(el("span", "muted", n.event));
      row.appendChild(el("span", "badge n-" + n.status, n.status));
      row.appendChild(el("span", "right", (n.httpCode ? "HTTP " + n.httpCode + " · " : "") +
        n.attempts + (n.attempts === 1 ? " attempt" : " attempts")));
      box.appendChild(row);
      if (n.error) box.appendChild(el("div", "step-error", n.error));
    });
    body.appendChild(box);
  }

  /* ---- change records: a run's list, one row's history (GET /v1/changes, keyset pages) ---- */

  var CHANGES_PAGE = 20;

  function changeValue(v) {
    return v === null || v === undefined ? "NULL" : typeof v === "string" ? v : JSON.stringify(v);
  }

  /* One record: which row, and each column as before → after (as text, never markup). */
  function changeItem(c, withRun) {
    var li = el("li", "change");
    li.dataset.changeId = c.id;
    var head = el("div", "step-head");
    head.appendChild(el("span", "name mono", c.table + " " + c.key));
    head.appendChild(el("span", "right", (withRun ? "run #" + c.runId + " · " : "") + c.step +
                                         " · " + c.at));
    li.appendChild(head);
    var cols = el("div", "kv");
    Object.keys(c.changes || {}).forEach(function (col) {
      var pair = c.changes[col] || [];
      var span = el("span", null, col + " ");
      span.appendChild(el("b", null, changeValue(pair[0]) + " → " + changeValue(pair[1])));
      cols.appendChild(span);
    });
    li.appendChild(cols);
    return li;
  }

  /* Into box: the records the query matches, newest first, a page at a time ("Older"). */
  function listChanges(box, query, withRun) {
    clear(box);
    var list = el("ul", "changes"), status = el("p", "muted", "Loading…");
    var more = el("button", "btn small changes-more hidden", "Older changes");
    var next = null;
    more.type = "button";
    box.appendChild(list);
    box.appendChild(status);
    box.appendChild(more);
    function page(before) {
      more.disabled = true;
      api("GET", "/v1/changes?" + query + "&limit=" + CHANGES_PAGE +
                 (before ? "&before=" + before : "")).then(function (r) {
        if (r.status !== 200) {
          status.textContent = "Not available (" + r.status + "): " + (r.body.error || "");
          return;
        }
        (r.body.changes || []).forEach(function (c) { list.appendChild(changeItem(c, withRun)); });
        var n = list.childNodes.length;
        next = r.body.nextBefore;
        status.textContent = n ? n + " change record" + (n === 1 ? "" : "s") +
          (next !== null ? " shown; older ones below" : "") : "No change records.";
        more.classList.toggle("hidden", next === null);
        more.disabled = false;
      }, function (e) {
        if (e instanceof NeedToken) askToken(!!token());
        else status.textContent = "Cannot reach the service.";
      });
    }
    more.addEventListener("click", function () { if (next !== null) page(next); });
    page(null);
  }

  /* A run's detail lists what it changed; a dry run says what it would have recorded. */
  function runChanges(run, id) {
    var box = el("div", "run-changes");
    box.id = "run-changes";
    box.appendChild(el("div", "sub-h", "Changes"));
    if (run.dryRun) {
      box.appendChild(el("p", "muted", "A dry run records nothing" +
        (typeof run.wouldRecordChanges === "number" ? "; a real run would record " +
         fmtNum(run.wouldRecordChanges) + " change records." : ".")));
      return box;
    }
    var inner = el("div");
    box.appendChild(inner);
    listChanges(inner, "run=" + id, false);
    return box;
  }

  function searchChanges(e) {
    e.preventDefault();
    var t = $("changes-table").value.trim(), k = $("changes-key").value.trim();
    if (!t || !k) return;
    listChanges($("changes-body"), "table=" + encodeURIComponent(t) + "&key=" +
                encodeURIComponent(k), true);
  }

  function openRun(id) {
    view.selected = id;
    view.detailFinished = false;
    Array.prototype.forEach.call($("runs-table").tBodies[0].rows, function (tr) {
      tr.classList.toggle("selected", Number(tr.dataset.runId) === id);
    });
    loadDetail(true);
    if (window.matchMedia("(max-width: 1100px)").matches)
      $("detail").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  /* A finished run never changes: it is fetched once; a running one until it ends. */
  function loadDetail(force) {
    var id = view.selected;
    if (id === null || (view.detailFinished && !force)) return Promise.resolve();
    return api("GET", "/v1/reconciliation/runs/" + id).then(function (r) {
      if (id !== view.selected) return;
      if (r.status === 200) {
        view.detailFinished = true;
        drawDetail(r.body, null);
      } else if (r.status === 404) {
        var body = $("detail-body");
        clear(body);
        $("detail-title").textContent = "Run #" + id;
        $("detail-close").classList.remove("hidden");
        var h = el("div", "step-head");
        h.appendChild(badge("running"));
        h.appendChild(el("span", "muted", "not finished yet; its steps appear when it ends"));
        body.appendChild(h);
      }
    });
  }

  function closeDetail() {
    view.selected = null;
    $("detail-title").textContent = "Run detail";
    $("detail-close").classList.add("hidden");
    clear($("detail-body"));
    $("detail-body").appendChild(el("p", "empty", "Select a run to see its steps."));
    Array.prototype.forEach.call($("runs-table").tBodies[0].rows, function (tr) {
      tr.classList.remove("selected");
    });
  }

  /* ---- queue and dashboard figures ---- */

  function stat(k, v) {
    var s = el("div", "stat");
    s.appendChild(el("div", "k", k));
    s.appendChild(el("div", "v", v));
    return s;
  }

  function dist(title, byStatus) {
    var box = el("div", "dist");
    box.appendChild(el("div", "sub-h", title));
    var keys = Object.keys(byStatus || {});
    var max = Math.max.apply(null, keys.map(function (k) { return byStatus[k]; }).concat([1]));
    keys.forEach(function (k) {
      var row = el("div", "dist-row");
      row.appendChild(el("span", null, k));
      var bar = el("div", "dist-bar"), fill = el("i");
      fill.style.width = Math.max(0.5, (byStatus[k] / max) * 100) + "%";
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(el("span", "n", fmtNum(byStatus[k])));
      box.appendChild(row);
    });
    return box;
  }

  function figureError(bodyId, r) {
    /* No snapshot yet (the first refresh runs at start): ask again at the next tick. */
    view.lastFigures = 0;
    var b = $(bodyId);
    clear(b);
    b.appendChild(el("p", "empty", "Not available (" + r.status + "): " + (r.body.error || "")));
  }

  /* The figures come from a snapshot: say how old it is, and why when a refresh failed. */
  function asOfText(d) {
    var t = d.asOf ? "as of " + fmtTime(d.asOf) : "no figures yet";
    if (d.stale) t += " · stale: " + (d.lastError || "the last refresh failed");
    return t;
  }

  /* Members the mapping (http.dashboard_figures) adds beyond the ones drawn above. */
  var DRAWN = { orders: 1, jobs: 1, followUps: 1, database: 1, lastRun: 1, referenceTime: 1,
                generatedAt: 1, asOf: 1, ageMs: 1, fresh: 1, stale: 1, lastError: 1 };

  function extraFigures(d, b) {
    var stats = el("div", "stats"), dists = [];
    Object.keys(d).forEach(function (k) {
      var v = d[k];
      if (DRAWN[k]) return;
      if (typeof v === "number") { stats.appendChild(stat(k, fmtNum(v))); return; }
      if (!v || typeof v !== "object") return;
      Object.keys(v).forEach(function (m) {
        if (typeof v[m] === "number") stats.appendChild(stat(k + " " + m, fmtNum(v[m])));
        else if (v[m] && typeof v[m] === "object") dists.push(dist(k + " " + m, v[m]));
      });
    });
    if (stats.childNodes.length) b.appendChild(stats);
    dists.forEach(function (x) { b.appendChild(x); });
  }

  function drawQueue(r) {
    if (r.status !== 200) return figureError("queue-body", r);
    var q = r.body, b = $("queue-body");
    clear(b);
    var stats = el("div", "stats");
    stats.appendChild(stat("Total jobs", fmtNum(q.total)));
    stats.appendChild(stat("Leased", fmtNum(q.leased)));
    stats.appendChild(stat("Expired leases", fmtNum(q.expiredLeases)));
    stats.appendChild(stat("Oldest pending", q.oldestPendingAgeSeconds ? fmtSpan(q.oldestPendingAgeSeconds) : "–"));
    b.appendChild(stats);
    b.appendChild(dist("Jobs by status", q.byStatus));
    $("queue-at").textContent = asOfText(q);
  }

  function drawDashboard(r) {
    if (r.status !== 200) return figureError("dash-body", r);
    var d = r.body, b = $("dash-body");
    clear(b);
    var stats = el("div", "stats");
    stats.appendChild(stat("Orders", fmtNum(d.orders && d.orders.total)));
    stats.appendChild(stat("Pending orders", fmtNum(d.orders && d.orders.pending)));
    stats.appendChild(stat("Revenue", d.orders && typeof d.orders.revenue === "number"
      ? d.orders.revenue.toLocaleString("en-US", { minimumFractionDigits: 2,
                                                   maximumFractionDigits: 2 }) : "–"));
    stats.appendChild(stat("Follow-ups due", fmtNum(d.followUps && d.followUps.candidates)));
    stats.appendChild(stat("Avg job time", d.jobs ? fmtMs(Math.round(d.jobs.avgDurationMs || 0)) : "–"));
    b.appendChild(stats);
    if (d.orders) b.appendChild(dist("Orders by status", d.orders.byStatus));
    extraFigures(d, b);
    $("dash-at").textContent = asOfText(d);
  }

  /* ---- the jobs panel ---- */

  function scheduleText(j) {
    var s = j.schedule;
    if (!s) return "on start / on demand";
    return s.cron ? "cron " + s.cron + " (" + s.timeZone + ")" : "every " + s.every;
  }

  function jobAction(name, action) {
    api("POST", "/v1/jobs/" + encodeURIComponent(name) + "/" + action).then(function (r) {
      if (r.status === 200 || r.status === 202) {
        notice("ok", "Job " + name + ": " + (action === "run" ? "run queued" : action + "d") + ".");
      } else {
        notice(r.status === 409 ? "warn" : "bad", "Job " + name + ": " + (r.body.error || r.status) +
          (r.body.pausedBy ? " (paused by " + r.body.pausedBy + ")" : ""));
      }
    }, function (e) {
      if (e instanceof NeedToken) askToken(!!token());
      else notice("bad", "Cannot reach the service.");
    }).then(function () { refresh(); });
  }

  function drawJobs(body) {
    var tbody = $("jobs-table").tBodies[0], filter = $("jobs-filter");
    clear(tbody);
    (body.jobs || []).forEach(function (j) {
      var tr = el("tr");
      var paused = j.paused && j.paused.paused;
      var next = (j.next || [])[0], nextUtc = (j.nextUtc || [])[0];
      tr.appendChild(el("td", "mono", j.job));
      tr.appendChild(el("td", null, scheduleText(j)));
      tr.appendChild(el("td", "mono", next || "–"));
      tr.appendChild(el("td", null, nextUtc ? new Date(nextUtc).toLocaleString() : "–"));
      var last = el("td");
      if (j.lastRun) last.appendChild(badge(j.lastRun.status)); else last.textContent = "–";
      tr.appendChild(last);
      tr.appendChild(el("td", null, !j.enabled ? "disabled" : paused ?
        "paused by " + j.paused.by + (j.paused.reason ? ": " + j.paused.reason : "") :
        j.running ? "running" : "active"));
      var act = el("td");
      var pr = el("button", "btn small", paused ? "Resume" : "Pause");
      pr.type = "button";
      pr.addEventListener("click", function () { jobAction(j.job, paused ? "resume" : "pause"); });
      var run = el("button", "btn small", "Run");
      run.type = "button";
      run.disabled = paused || !j.enabled;
      run.addEventListener("click", function () { jobAction(j.job, "run"); });
      act.appendChild(pr);
      act.appendChild(run);
      tr.appendChild(act);
      tbody.appendChild(tr);
      var known = Array.prototype.some.call(filter.options, function (o) { return o.value === j.job; });
      if (!known) filter.appendChild(el("option", null, j.job)).value = j.job;
    });
  }

  /* ---- the refresh loop ---- */

  /* The runs list's filters as the history's arguments: the days are the browser's own,
     from the start of "from" to the end of "to", sent as UTC times. */
  function dayStart(value, plus) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
    return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plus).toISOString() : "";
  }

  function filterArgs() {
    var f = {
      job: $("jobs-filter") ? $("jobs-filter").value : "",
      status: $("f-status") ? $("f-status").value : "",
      trigger: $("f-trigger") ? $("f-trigger").value : "",
      since: dayStart($("f-since") && $("f-since").value, 0),
      until: dayStart($("f-until") && $("f-until").value, 1)
    };
    return Object.keys(f).filter(function (k) { return f[k]; }).map(function (k) {
      return "&" + k + "=" + encodeURIComponent(f[k]);
    }).join("");
  }

  function historyPath(limit, before) {
    return "/v1/reconciliation/history?limit=" + limit + (before ? "&before=" + before : "") +
      filterArgs();
  }

  /* A filter changed: back to the newest page of what it lets through. */
  function filtersChanged() {
    view.before = null;
    view.stack = [];
    $("runs-empty").textContent = filterArgs() ? "No runs match these filters."
                                               : "No runs recorded yet.";
    refresh();
  }

  function refresh() {
    if (view.busy) return Promise.resolve();
    view.busy = true;
    var figures = Date.now() - view.lastFigures >= FIGURES_MS;
    var jobs = [
      api("GET", "/v1/service/state").then(function (r) { if (r.status === 200) drawState(r.body); }),
      api("GET", historyPath(PAGE_SIZE, view.before)).then(function (r) {
        if (r.status === 200) drawRuns(r.body);
      }),
      api("GET", historyPath(CHART_RUNS, null)).then(function (r) {
        if (r.status === 200) drawChart(r.body.runs);
      }),
      api("GET", "/v1/jobs").then(function (r) { if (r.status === 200) drawJobs(r.body); }),
      loadDetail(false)
    ];
    if (figures) {
      view.lastFigures = Date.now();
      jobs.push(api("GET", "/v1/processing/queue").then(drawQueue));
      jobs.push(api("GET", "/api/admin/dashboard").then(drawDashboard));
    }
    return Promise.all(jobs).then(function () {
      signedIn();
      setLive(true, "live · updated " + new Date().toLocaleTimeString());
    }, function (e) {
      if (e instanceof NeedToken) {
        askToken(!!token());
      } else {
        setLive(false, "cannot reach the service; retrying");
      }
    }).then(function () { view.busy = false; });
  }

  function schedule() {
    if (view.timer) clearInterval(view.timer);
    view.timer = setInterval(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
  }

  function postRun(dry) {
    var btns = [$("btn-run"), $("btn-dry")];
    btns.forEach(function (b) { b.disabled = true; });
    api("POST", "/v1/reconciliation/run" + (dry ? "?dryRun=true" : "")).then(function (r) {
      if (r.status === 202) {
        notice("ok", (dry ? "Dry run" : "Run") + " #" + r.body.runId + " queued.");
        view.before = null;
        view.stack = [];
      } else if (r.status === 409) {
        notice("warn", "Not started: a run is already running or queued" +
          (r.body.runId ? " (#" + r.body.runId + ")" : "") + ". Try again when it has finished.");
      } else {
        notice("bad", "The service refused the run (" + r.status + "): " + (r.body.error || ""));
      }
    }, function (e) {
      if (e instanceof NeedToken) askToken(!!token());
      else notice("bad", "Cannot reach the service.");
    }).then(function () {
      btns.forEach(function (b) { b.disabled = false; });
      refresh();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("btn-run").addEventListener("click", function () { postRun(false); });
    $("btn-dry").addEventListener("click", function () { postRun(true); });
    $("detail-close").addEventListener("click", closeDetail);
    $("changes-form").addEventListener("submit", searchChanges);
    $("notice").addEventListener("click", function () { this.className = "notice hidden"; });
    $("jobs-filter").addEventListener("change", filtersChanged);
    ["f-status", "f-trigger", "f-since", "f-until"].forEach(function (id) {
      $(id).addEventListener("change", filtersChanged);
    });
    $("runs-filters").addEventListener("submit", function (e) { e.preventDefault(); });
    /* After the form has put every field back (reset fires before it does). */
    $("runs-filters").addEventListener("reset", function () { setTimeout(filtersChanged, 0); });
    $("page-older").addEventListener("click", function () {
      if (view.nextBefore === null) return;
      view.stack.push(view.before);
      view.before = view.nextBefore;
      refresh();
    });
    $("page-newer").addEventListener("click", function () {
      if (!view.stack.length) return;
      view.before = view.stack.pop();
      refresh();
    });
    $("token-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var v = $("token-input").value.trim();
      if (!v) return;
      try { sessionStorage.setItem(TOKEN_KEY, v); } catch (err) { /* private mode: ask again */ }
      $("token-input").value = "";
      view.lastFigures = 0;
      refresh();
    });
    $("btn-signout").addEventListener("click", function () {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (err) { /* nothing kept */ }
      location.reload();
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { if (chartRuns) drawChart(chartRuns); }, 100);
    });
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
    /* #/runs/ID (the link alerts carry when http.public_url is set) opens that run. */
    function fromHash() {
      var m = /^#\/runs\/(\d+)$/.exec(location.hash);
      if (m) openRun(Number(m[1]));
    }
    window.addEventListener("hashchange", fromHash);
    refresh();
    fromHash();
    schedule();
  });
})();
