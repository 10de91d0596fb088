// The dashboard page over the JSON API: the runs table (#/), a run (#/run/ID) and the compare
// view (#/compare/ID,ID,…). Everything user-provided goes into the page as text, never as HTML.

import { LineChart, ParallelCoords, PALETTE, defaults, seconds } from "/static/chart.js";

const view = document.getElementById("view");
const projectSelect = document.getElementById("project");
const filterInput = document.getElementById("filter");
let closeView = () => {};

/** Chart settings shared by every chart and kept across visits. */
const settings = Object.assign(defaults(), JSON.parse(localStorage.getItem("nabla.charts") || "{}"));
const saveSettings = () => localStorage.setItem("nabla.charts", JSON.stringify(settings));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

/** Replaces the view's content, skipping the parts a condition left out. */
const show = (...parts) => view.replaceChildren(...parts.filter((p) => p !== null && p !== undefined && p !== false));

function showError(err) {
  view.replaceChildren(el("p", { class: "error" }, err.message || String(err)));
}

// ---------------------------------------------------------------- reports

/** The sweep id that every one of these runs is tagged with (`sweep:ID`), if any. */
function sharedSweep(runs) {
  const sweepsOf = (r) => (r.tags || []).filter((t) => t.startsWith("sweep:")).map((t) => t.slice(6));
  const [first, ...rest] = runs.map(sweepsOf);
  return (first || []).find((id) => rest.every((ids) => ids.includes(id))) || null;
}

/** Fetches `/api/report?QUERY` and saves it under the name the server gives; an error shows
 *  beside the button instead of replacing the page. */
async function downloadReport(query, button) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "making report…";
  button.parentNode?.querySelector(".report-error")?.remove();
  try {
    const res = await fetch(`/api/report?${query}`, { credentials: "same-origin" });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.error || `${res.status} ${res.statusText}`);
    }
    const name = (res.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
    const url = URL.createObjectURL(await res.blob());
    const link = el("a", { href: url, download: name ? name[1] : "report.html", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    button.after(el("span", { class: "error report-error" }, ` ${err.message || err}`));
  } finally {
    button.textContent = label;
    button.disabled = false;
  }
}

/** The run view's report buttons: this run, and its sweep when it belongs to one. */
function runReportButtons(run) {
  const sweep = sharedSweep([run]);
  const runButton = el("button", { id: "report", onclick: () => downloadReport(`runs=${encodeURIComponent(run.id)}`, runButton) }, "report");
  const sweepButton = sweep && el("button", { id: "sweep-report", title: `the report of sweep ${sweep}, which this run is a trial of`,
    onclick: () => downloadReport(`sweep=${encodeURIComponent(sweep)}`, sweepButton) }, `sweep ${sweep} report`);
  return el("div", { class: "toolbar" }, runButton, sweepButton);
}

// One formatter for every row: `toLocaleString` builds a new one per call (about 1 ms each).
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const when = (secs) => (secs ? dateFormat.format(new Date(secs * 1000)) : "");
const duration = (secs) => (secs == null ? "" : seconds(Math.round(secs)));

function cell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(5)));
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** `{a: {b: 1}}` → `{"a.b": 1}`: one column per leaf of a nested config. */
function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, `${prefix}${k}.`, out);
    else out[prefix + k] = v;
  }
  return out;
}

/** Keys by how many rows have them, most first. */
function keysByUse(rows) {
  const counts = new Map();
  for (const r of rows) for (const k of Object.keys(r)) counts.set(k, (counts.get(k) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
}

/** The keys whose value differs between rows (what a sweep varied). */
function varyingKeys(rows) {
  return keysByUse(rows).filter((k) => new Set(rows.map((r) => JSON.stringify(r[k] ?? null))).size > 1);
}

const metricUrl = (run, name, query) =>
  `/api/runs/${encodeURIComponent(run)}/metrics/${name.split("/").map(encodeURIComponent).join("/")}?${query}`;
const isSystem = (name) => name.startsWith("sys/");

async function loadProjects() {
  const projects = await api("/api/projects");
  const current = projectSelect.value;
  projectSelect.replaceChildren(el("option", { value: "" }, "all"),
    ...projects.map((p) => el("option", { value: p.name }, `${p.name} (${p.runs})`)));
  projectSelect.value = current;
}

// ---------------------------------------------------------------- runs table

let sortKey = "started", sortAsc = false;
/** Rows built per slice of the runs table; a newer render stops an older one's slices. */
const ROWS_PER_SLICE = 150;
let renderToken = 0;
const selected = new Set();

function columnChoice(project) {
  return JSON.parse(localStorage.getItem(`nabla.columns.${project}`) || "null");
}

async function showRuns() {
  const params = new URLSearchParams();
  if (projectSelect.value) params.set("project", projectSelect.value);
  if (filterInput.value.trim()) params.append("filter", filterInput.value.trim());
  const page = await api(`/api/runs?${params}`);
  const rows = page.runs.map((r) => ({ run: r, config: flatten(r.config), summary: flatten(r.summary) }));
  const configKeys = keysByUse(rows.map((r) => r.config));
  const summaryKeys = keysByUse(rows.map((r) => r.summary));
  const project = projectSelect.value || "*";
  // The user's columns, else the config keys that vary (a sweep's knobs) and the summaries.
  let chosen = columnChoice(project);
  if (!chosen) {
    const vary = varyingKeys(rows.map((r) => r.config));
    chosen = [...(vary.length ? vary : configKeys).slice(0, 5).map((k) => `config.${k}`),
      ...summaryKeys.slice(0, 4).map((k) => `summary.${k}`)];
  }
  const fixed = [
    { key: "status", title: "status", get: (r) => r.run.status },
    { key: "name", title: "name", get: (r) => r.run.name || r.run.id.slice(0, 8) },
    { key: "project", title: "project", get: (r) => r.run.project },
    { key: "started", title: "started", get: (r) => r.run.started, show: when },
    { key: "duration", title: "duration", get: (r) => r.run.duration, show: duration, num: true },
  ];
  const dynamic = (key) => {
    const [part, ...rest] = key.split(".");
    const sub = rest.join(".");
    return { key, title: sub, part, get: (r) => r[part][sub], num: true };
  };
  let quick = "";

  const toolbar = el("div", { class: "toolbar" });
  const table = el("table", { id: "runs" });
  const count = el("span", { class: "muted" });
  const compareButton = el("button", { id: "compare", onclick: () => {
    if (selected.size) location.hash = `#/compare/${[...selected].join(",")}`;
  } });
  const byId = new Map(rows.map((r) => [r.run.id, r.run]));
  const chosenRuns = () => [...selected].map((id) => byId.get(id)).filter(Boolean);
  const reportButton = el("button", { id: "report", title: "a self-contained HTML report of the selected runs",
    onclick: () => { if (selected.size) downloadReport(`runs=${[...selected].map(encodeURIComponent).join(",")}`, reportButton); } });
  const sweepButton = el("button", { id: "sweep-report", hidden: true,
    onclick: () => { if (sweepButton.dataset.sweep) downloadReport(`sweep=${encodeURIComponent(sweepButton.dataset.sweep)}`, sweepButton); } });
  const quickInput = el("input", { type: "search", placeholder: "find in table", oninput: (e) => { quick = e.target.value.toLowerCase(); render(); } });
  const picker = el("details", { class: "picker" }, el("summary", {}, "columns"),
    el("div", {}, ...[["config", configKeys], ["summary", summaryKeys]].flatMap(([part, keys]) => [
      el("h4", {}, part),
      ...keys.map((k) => el("label", {}, el("input", {
        type: "checkbox", checked: chosen.includes(`${part}.${k}`),
        onchange: (e) => {
          const key = `${part}.${k}`;
          chosen = e.target.checked ? [...chosen, key] : chosen.filter((c) => c !== key);
          localStorage.setItem(`nabla.columns.${project}`, JSON.stringify(chosen));
          render();
        },
      }), ` ${k}`)),
    ])));
  toolbar.append(count, quickInput, picker, compareButton, reportButton, sweepButton);
  view.replaceChildren(toolbar, table);

  function render() {
    const columns = [...fixed, ...chosen.map(dynamic)];
    const col = columns.find((c) => c.key === sortKey) || fixed[3];
    const text = (r) => columns.map((c) => cell(c.get(r))).join(" ").toLowerCase();
    const shown = quick ? rows.filter((r) => text(r).includes(quick)) : rows;
    const sorted = [...shown].sort((a, b) => {
      const x = col.get(a), y = col.get(b);
      if (x === y) return 0;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (x < y ? -1 : 1) * (sortAsc ? 1 : -1);
    });
    const allBox = el("input", { type: "checkbox", title: "select all shown",
      checked: sorted.length > 0 && sorted.every((r) => selected.has(r.run.id)),
      onchange: (e) => { for (const r of sorted) e.target.checked ? selected.add(r.run.id) : selected.delete(r.run.id); render(); } });
    const head = el("tr", {}, el("th", { class: "select" }, allBox), ...columns.map((c) => el("th", {
      class: `${c.key === col.key ? `sorted${sortAsc ? " asc" : ""}` : ""}${c.num ? " num" : ""}`,
      title: c.key,
      onclick: () => { sortAsc = sortKey === c.key ? !sortAsc : c.key === "name" || c.key === "status"; sortKey = c.key; render(); },
    }, c.title)));
    const tbody = el("tbody");
    const rowOf = (r) => {
      const box = el("input", { type: "checkbox", checked: selected.has(r.run.id),
        onchange: (e) => { e.target.checked ? selected.add(r.run.id) : selected.delete(r.run.id); updateCount(); } });
      const tr = el("tr", { "data-run": r.run.id }, el("td", { class: "select", onclick: (e) => e.stopPropagation() }, box));
      for (const c of columns) {
        const v = c.get(r);
        const td = el("td", { class: c.num && typeof v === "number" ? "num" : "" }, c.show ? c.show(v) : cell(v));
        if (c.key === "status") td.className = `status ${v}`;
        if (c.key === "name") td.replaceChildren(el("a", { href: `#/run/${r.run.id}` }, cell(v)));
        tr.append(td);
      }
      tr.addEventListener("click", () => { location.hash = `#/run/${r.run.id}`; });
      return tr;
    };
    // The first rows at once, the rest in slices between frames: a table of 1,000 runs shows
    // without waiting for all of its rows to be built and laid out.
    const token = ++renderToken;
    const slice = (from) => {
      const part = document.createDocumentFragment();
      for (const r of sorted.slice(from, from + ROWS_PER_SLICE)) part.append(rowOf(r));
      tbody.append(part);
      if (from + ROWS_PER_SLICE < sorted.length) setTimeout(() => { if (token === renderToken) slice(from + ROWS_PER_SLICE); }, 0);
    };
    slice(0);
    table.replaceChildren(el("thead", {}, head), tbody);
    function updateCount() {
      count.textContent = `${shown.length} of ${page.total} run${page.total === 1 ? "" : "s"}`;
      compareButton.textContent = `compare ${selected.size} selected`;
      compareButton.disabled = selected.size === 0;
      reportButton.textContent = `report of ${selected.size} selected`;
      reportButton.disabled = selected.size === 0;
      const sweep = selected.size ? sharedSweep(chosenRuns()) : null;
      sweepButton.hidden = !sweep;
      sweepButton.dataset.sweep = sweep || "";
      sweepButton.textContent = sweep ? `sweep ${sweep} report` : "";
    }
    updateCount();
  }
  render();
}

// ---------------------------------------------------------------- chart toolbar

/** Smoothing, x axis and log scale: they apply to every chart in `charts()`. */
function chartToolbar(charts) {
  const redraw = () => { saveSettings(); for (const c of charts()) c.redraw(); };
  const smoothValue = el("span", { class: "muted value" }, settings.smoothing.toFixed(2));
  return el("div", { class: "toolbar" },
    el("label", {}, "smoothing ", el("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: String(settings.smoothing), id: "smoothing",
      oninput: (e) => { settings.smoothing = Number(e.target.value); smoothValue.textContent = settings.smoothing.toFixed(2); redraw(); } }), smoothValue),
    el("label", {}, "x axis ", el("select", { id: "xaxis", onchange: (e) => { settings.xAxis = e.target.value; for (const c of charts()) c.zoom = null; redraw(); } },
      el("option", { value: "step", selected: settings.xAxis === "step" }, "step"),
      el("option", { value: "wall", selected: settings.xAxis === "wall" }, "wall time"))),
    el("label", {}, el("input", { type: "checkbox", id: "logy", checked: settings.logY, onchange: (e) => { settings.logY = e.target.checked; redraw(); } }), " log scale"),
    el("span", { class: "muted hint" }, "drag to zoom · double-click to reset · hover for values"));
}

function chartBox(name, canvas) {
  return el("div", { class: "chart" }, el("h3", { title: name }, name), canvas);
}

/** After a drag-zoom, fetches each series' points in that step range at full resolution
 *  (up to `pointsWanted`) and merges them in: a long run zooms down to single steps. */
function refineOnZoom(chart, name, runIds) {
  chart.onZoom = (a, b) => {
    const from = Math.max(0, Math.floor(a)), to = Math.max(from, Math.ceil(b));
    for (const id of runIds) {
      api(metricUrl(id, name, `points=${pointsWanted()}&from=${from}&to=${to}`))
        .then((h) => chart.merge(id, h.steps, h.wall_times, h.values))
        .catch(showError);
    }
  };
}

/** Zooming one chart zooms the others of `charts()` that share its x axis: on the step axis
 *  the charts of the same kind (system metrics count their own samples, not training steps),
 *  on the wall-time axis all of them. A double-click resets them together. */
function syncZoom(charts) {
  const sharesAxis = (a, b) => settings.xAxis === "wall" || isSystem(a.canvas.dataset.metric) === isSystem(b.canvas.dataset.metric);
  for (const chart of charts()) {
    chart.onRange = (range) => {
      for (const other of charts()) if (other !== chart && sharesAxis(chart, other)) other.setZoom(range && [...range]);
    };
  }
}

/** Follows running runs over Server-Sent Events: `onPoints(runId, batch)` gets each batch of
 *  new points, but only after `ready` resolves (the histories are drawn; what came in meanwhile
 *  is held back, and a chart skips the steps it already has); `onEnd(runId, status)` when a run
 *  stops. Returns a function that closes the streams. */
function follow(runIds, ready, onPoints, onEnd) {
  const sources = runIds.map((id) => {
    const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/stream`);
    const held = [];
    let loaded = false;
    ready.then(() => { loaded = true; held.splice(0).forEach((batch) => onPoints(id, batch)); });
    source.addEventListener("points", (e) => {
      const batch = JSON.parse(e.data);
      if (loaded) onPoints(id, batch); else held.push(batch);
    });
    source.addEventListener("end", (e) => {
      onEnd(id, JSON.parse(e.data).status);
      source.close();
    });
    return source;
  });
  return () => sources.forEach((s) => s.close());
}

/** How many points to ask for: about two per pixel of the widest chart. */
const pointsWanted = () => Math.min(4000, Math.max(500, Math.round(window.innerWidth * 1.5)));

// ---------------------------------------------------------------- one run

function keyValueTable(obj) {
  const flat = flatten(obj);
  const keys = Object.keys(flat).sort();
  if (!keys.length) return el("p", { class: "muted" }, "none");
  return el("table", { class: "kv" }, el("tbody", {}, ...keys.map((k) => el("tr", {}, el("th", {}, k), el("td", {}, cell(flat[k]))))));
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toPrecision(3)} ${units[i]}`;
}

async function showRun(id) {
  const { run, metrics, artifacts } = await api(`/api/runs/${encodeURIComponent(id)}`);
  const charts = new Map();
  const mainGrid = el("div", { class: "charts" });
  const sysGrid = el("div", { class: "charts system" });
  const addChart = (name) => {
    const canvas = el("canvas", { "data-metric": name });
    (isSystem(name) ? sysGrid : mainGrid).append(chartBox(isSystem(name) ? name.slice(4) : name, canvas));
    const chart = new LineChart(canvas, settings);
    refineOnZoom(chart, name, [run.id]);
    chart.set(run.id, { label: run.name || run.id.slice(0, 8), color: PALETTE[0], t0: run.started, steps: [], walls: [], values: [] });
    charts.set(name, chart);
    syncZoom(() => charts.values());
    return chart;
  };
  for (const m of metrics) addChart(m.name);
  const status = el("span", { class: `status ${run.status}` }, run.status);
  const info = {
    id: run.id, project: run.project, started: when(run.started), duration: duration(run.duration),
    host: run.host, command: run.command, git_commit: run.git_commit, nabla_version: run.nabla_version,
    threads: run.threads, tags: (run.tags || []).join(", "),
  };
  for (const k of Object.keys(info)) if (info[k] === null || info[k] === undefined || info[k] === "") delete info[k];
  const anyMain = metrics.some((m) => !isSystem(m.name));
  const anySys = metrics.some((m) => isSystem(m.name));
  show(
    el("h2", {}, run.name || run.id, status),
    el("p", { class: "muted" }, `${run.project} · ${run.id} · started ${when(run.started)} · ${duration(run.duration)}`),
    runReportButtons(run),
    chartToolbar(() => charts.values()),
    anyMain || !anySys ? mainGrid : null,
    metrics.length ? null : el("p", { class: "muted" }, "No metrics logged yet."),
    el("h3", { class: "section", hidden: !anySys }, "system"),
    sysGrid,
    el("div", { class: "panels" },
      el("section", {}, el("h3", {}, "config"), keyValueTable(run.config)),
      el("section", {}, el("h3", {}, "summary"), keyValueTable(run.summary)),
      el("section", {}, el("h3", {}, "artifacts"), artifacts.length
        ? el("ul", { class: "artifacts" }, ...artifacts.map((a) => el("li", {},
          el("a", { href: a.url, download: a.name }, a.name), el("span", { class: "muted" }, ` ${a.kind} · ${bytes(a.bytes)}`))))
        : el("p", { class: "muted" }, "none")),
      el("section", {}, el("h3", {}, "run"), keyValueTable(info),
        Object.keys(run.system || {}).length ? el("details", {}, el("summary", {}, "machine"), keyValueTable(run.system)) : null)));

  // Subscribe first and hold back live points until each history is drawn, so that nothing
  // logged in between is lost.
  let drawn;
  const ready = new Promise((resolve) => { drawn = resolve; });
  if (run.status === "running") {
    closeView = follow([run.id], ready, (id, batch) => {
      for (const [name, cols] of Object.entries(batch)) {
        const chart = charts.get(name) || addChart(name);
        if (isSystem(name)) view.querySelector("h3.section").hidden = false;
        chart.append(id, cols.steps, cols.wall_times, cols.values);
      }
    }, (id, s) => { if (s) { status.textContent = s; status.className = `status ${s}`; } });
  }
  const points = pointsWanted();
  await Promise.all([...charts.entries()].map(async ([name, chart]) => {
    const h = await api(metricUrl(run.id, name, `points=${points}`));
    chart.set(run.id, { label: run.name || run.id.slice(0, 8), color: PALETTE[0], t0: run.started, steps: h.steps, walls: h.wall_times, values: h.values });
  }));
  drawn();
}

// ---------------------------------------------------------------- compare

async function showCompare(ids) {
  const details = await Promise.all(ids.map((id) => api(`/api/runs/${encodeURIComponent(id)}`)));
  const runs = details.map((d, i) => ({ ...d, color: PALETTE[i % PALETTE.length], label: d.run.name || d.run.id.slice(0, 8) }));
  const names = [...new Set(runs.flatMap((r) => r.metrics.map((m) => m.name)))]
    .sort((a, b) => Number(isSystem(a)) - Number(isSystem(b)) || a.localeCompare(b));
  const charts = new Map();
  const grid = el("div", { class: "charts" });
  const addChart = (name, runIds) => {
    const canvas = el("canvas", { "data-metric": name });
    grid.append(chartBox(name, canvas));
    const chart = new LineChart(canvas, settings);
    refineOnZoom(chart, name, runIds);
    charts.set(name, chart);
    syncZoom(() => charts.values());
    return chart;
  };
  for (const name of names) addChart(name, runs.filter((r) => r.metrics.some((m) => m.name === name)).map((r) => r.run.id));
  const legend = el("div", { class: "legend" }, ...runs.map((r) => {
    const item = el("button", { class: "item", title: r.run.id, "data-run": r.run.id,
      onclick: () => {
        item.classList.toggle("off");
        for (const c of charts.values()) c.setHidden(r.run.id, item.classList.contains("off"));
      } }, el("span", { class: "swatch", style: `background:${r.color}` }), r.label);
    return item;
  }));

  // Parallel coordinates: the config keys that differ between the runs, then a summary value.
  const configs = runs.map((r) => flatten(r.run.config));
  const summaries = runs.map((r) => flatten(r.run.summary));
  let hyper = varyingKeys(configs);
  if (!hyper.length) hyper = keysByUse(configs).slice(0, 6);
  hyper = hyper.slice(0, 10);
  const metricKeys = keysByUse(summaries).filter((k) => summaries.some((s) => typeof s[k] === "number"));
  const metricSelect = el("select", { id: "pc-metric", onchange: () => drawParallel() },
    ...metricKeys.map((k) => el("option", { value: k }, k)));
  // Accuracy-like values first: what a sweep is usually judged by.
  metricSelect.value = metricKeys.find((k) => /acc/i.test(k)) || metricKeys[0] || "";
  const pcCanvas = el("canvas", { id: "parcoords" });
  const parallel = new ParallelCoords(pcCanvas);
  function drawParallel() {
    const metric = metricSelect.value;
    const axes = [...hyper.map((k) => ({ key: `config.${k}`, label: k })), { key: `summary.${metric}`, label: metric }];
    parallel.set(axes, runs.map((r, i) => {
      const values = {};
      for (const k of hyper) values[`config.${k}`] = configs[i][k];
      values[`summary.${metric}`] = summaries[i][metric];
      return { label: r.label, values };
    }));
  }

  const noMetrics = el("p", { class: "muted", hidden: names.length > 0 }, "These runs logged no metrics.");
  show(
    el("h2", {}, `Compare ${runs.length} run${runs.length === 1 ? "" : "s"}`),
    legend,
    chartToolbar(() => charts.values()),
    noMetrics,
    grid,
    el("section", { class: "hyper" },
      el("h3", {}, "hyperparameters against ", metricSelect),
      metricKeys.length && hyper.length ? pcCanvas : el("p", { class: "muted" }, "The runs need config values and a numeric summary value.")));
  if (metricKeys.length && hyper.length) drawParallel();

  // The running runs' new points come in as in the run view, held back until the histories
  // are drawn; a metric seen for the first time gets its chart then.
  let drawn;
  const ready = new Promise((resolve) => { drawn = resolve; });
  const byId = new Map(runs.map((r) => [r.run.id, r]));
  const series = (r) => ({ label: r.label, color: r.color, t0: r.run.started });
  const running = runs.filter((r) => r.run.status === "running").map((r) => r.run.id);
  if (running.length) {
    closeView = follow(running, ready, (id, batch) => {
      const r = byId.get(id);
      for (const [name, cols] of Object.entries(batch)) {
        const chart = charts.get(name) || addChart(name, [id]);
        noMetrics.hidden = true;
        if (!chart.series.has(id)) chart.set(id, { ...series(r), steps: [], walls: [], values: [] });
        chart.append(id, cols.steps, cols.wall_times, cols.values);
      }
    }, (id, s) => {
      const item = legend.querySelector(`[data-run="${id}"]`);
      if (item && s) item.title = `${id} · ${s}`;
    });
  }
  const points = pointsWanted();
  await Promise.all(names.flatMap((name) => runs.filter((r) => r.metrics.some((m) => m.name === name)).map(async (r) => {
    const h = await api(metricUrl(r.run.id, name, `points=${points}`));
    charts.get(name).set(r.run.id, { ...series(r), steps: h.steps, walls: h.wall_times, values: h.values });
  })));
  drawn();
}

// ---------------------------------------------------------------- routing

async function route() {
  closeView();
  closeView = () => {};
  const run = location.hash.match(/^#\/run\/([0-9a-zA-Z]+)/);
  const compare = location.hash.match(/^#\/compare\/([0-9a-zA-Z,]+)/);
  try {
    if (run) await showRun(run[1]);
    else if (compare) await showCompare(compare[1].split(",").filter(Boolean));
    else await showRuns();
  } catch (err) {
    showError(err);
  }
}

projectSelect.addEventListener("change", () => { selected.clear(); location.hash = "#/"; route(); });
filterInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { location.hash = "#/"; route(); } });
window.addEventListener("hashchange", route);
loadProjects().catch(showError);
route();
