// The dashboard page: a runs table (#/) and a run view (#/run/ID) over the JSON API.
// Everything user-provided goes into the page as text, never as HTML.

import { LineChart } from "/static/chart.js";

const view = document.getElementById("view");
const projectSelect = document.getElementById("project");
const filterInput = document.getElementById("filter");
let closeView = () => {};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function showError(err) {
  view.replaceChildren(el("p", { class: "error" }, err.message || String(err)));
}

function when(secs) {
  return secs ? new Date(secs * 1000).toLocaleString() : "";
}

function duration(secs) {
  if (secs == null) return "";
  const s = Math.round(secs);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function cell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(5)));
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** `{a: {b: 1}}` → `{"a.b": 1}`: config columns for nested objects. */
function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, `${prefix}${k}.`, out);
    else out[prefix + k] = v;
  }
  return out;
}

/** The keys that vary most often across runs come first; at most `max` of them. */
function pickKeys(rows, max) {
  const counts = new Map();
  for (const r of rows) for (const k of Object.keys(r)) counts.set(k, (counts.get(k) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, max).map(([k]) => k);
}

async function loadProjects() {
  const projects = await api("/api/projects");
  const current = projectSelect.value;
  projectSelect.replaceChildren(el("option", { value: "" }, "all"),
    ...projects.map((p) => el("option", { value: p.name }, `${p.name} (${p.runs})`)));
  projectSelect.value = current;
}

let sortKey = "started", sortAsc = false;

async function showRuns() {
  const params = new URLSearchParams();
  if (projectSelect.value) params.set("project", projectSelect.value);
  if (filterInput.value.trim()) params.append("filter", filterInput.value.trim());
  const page = await api(`/api/runs?${params}`);
  const rows = page.runs.map((r) => ({ run: r, config: flatten(r.config), summary: flatten(r.summary) }));
  const configKeys = pickKeys(rows.map((r) => r.config), 5);
  const summaryKeys = pickKeys(rows.map((r) => r.summary), 4);
  const columns = [
    { key: "status", title: "status", get: (r) => r.run.status },
    { key: "name", title: "name", get: (r) => r.run.name || r.run.id.slice(0, 8) },
    { key: "project", title: "project", get: (r) => r.run.project },
    { key: "started", title: "started", get: (r) => r.run.started, show: when },
    { key: "duration", title: "duration", get: (r) => r.run.duration, show: duration, num: true },
    ...configKeys.map((k) => ({ key: `config.${k}`, title: k, get: (r) => r.config[k], num: true })),
    ...summaryKeys.map((k) => ({ key: `summary.${k}`, title: k, get: (r) => r.summary[k], num: true })),
  ];
  const render = () => {
    const col = columns.find((c) => c.key === sortKey) || columns[3];
    const sorted = [...rows].sort((a, b) => {
      const x = col.get(a), y = col.get(b);
      if (x === y) return 0;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (x < y ? -1 : 1) * (sortAsc ? 1 : -1);
    });
    const head = el("tr", {}, ...columns.map((c) => el("th", {
      class: c.key === col.key ? `sorted${sortAsc ? " asc" : ""}` : "",
      onclick: () => { sortAsc = sortKey === c.key ? !sortAsc : false; sortKey = c.key; render(); },
    }, c.title)));
    const body = sorted.map((r) => el("tr", { onclick: () => { location.hash = `#/run/${r.run.id}`; } },
      ...columns.map((c) => {
        const v = c.get(r);
        const td = el("td", { class: c.num ? "num" : "" }, c.show ? c.show(v) : cell(v));
        if (c.key === "status") td.className = `status ${v}`;
        return td;
      })));
    view.replaceChildren(
      el("p", { class: "muted" }, `${page.total} run${page.total === 1 ? "" : "s"}`),
      el("table", { id: "runs" }, el("thead", {}, head), el("tbody", {}, ...body)));
  };
  render();
}

async function showRun(id) {
  const { run, metrics, artifacts } = await api(`/api/runs/${encodeURIComponent(id)}`);
  const charts = new Map();
  const grid = el("div", { class: "charts" });
  for (const m of metrics) {
    const canvas = el("canvas", { "data-metric": m.name });
    grid.append(el("div", { class: "chart" }, el("h3", {}, m.name), canvas));
    charts.set(m.name, new LineChart(canvas));
  }
  const status = el("span", { class: `status ${run.status}` }, run.status);
  view.replaceChildren(
    el("h2", {}, run.name || run.id, status),
    el("p", { class: "muted" }, `${run.project} · ${run.id} · started ${when(run.started)} · ${duration(run.duration)}`),
    metrics.length ? grid : el("p", { class: "muted" }, "No metrics logged."),
    el("div", { class: "panels" },
      el("section", {}, el("h3", {}, "config"), el("pre", {}, JSON.stringify(run.config, null, 2))),
      el("section", {}, el("h3", {}, "summary"), el("pre", {}, JSON.stringify(run.summary, null, 2))),
      el("section", {}, el("h3", {}, "artifacts"), artifacts.length
        ? el("ul", {}, ...artifacts.map((a) => el("li", {},
          el("a", { href: a.url, download: a.name }, a.name), ` ${a.kind}, ${a.bytes} bytes`)))
        : el("p", { class: "muted" }, "none"))));

  // Subscribe first and hold back live points until each history is drawn, so that nothing
  // logged in between is lost; the chart skips steps it already has.
  const held = [];
  let loaded = false;
  let source = null;
  if (run.status === "running") {
    source = new EventSource(`/api/runs/${encodeURIComponent(run.id)}/stream`);
    source.addEventListener("points", (e) => {
      const batch = JSON.parse(e.data);
      if (!loaded) { held.push(batch); return; }
      addPoints(batch);
    });
    source.addEventListener("end", (e) => {
      const { status: s } = JSON.parse(e.data);
      if (s) { status.textContent = s; status.className = `status ${s}`; }
      source.close();
    });
  }
  function addPoints(batch) {
    for (const [name, cols] of Object.entries(batch)) {
      let chart = charts.get(name);
      if (!chart) {
        const canvas = el("canvas", { "data-metric": name });
        grid.append(el("div", { class: "chart" }, el("h3", {}, name), canvas));
        chart = new LineChart(canvas);
        charts.set(name, chart);
      }
      chart.append(cols.steps, cols.values);
    }
  }
  closeView = () => source && source.close();
  const width = Math.max(400, Math.round(window.innerWidth));
  await Promise.all([...charts.entries()].map(async ([name, chart]) => {
    const h = await api(`/api/runs/${encodeURIComponent(run.id)}/metrics/${name.split("/").map(encodeURIComponent).join("/")}?points=${width}`);
    chart.set(h.steps, h.values);
  }));
  loaded = true;
  held.forEach(addPoints);
}

async function route() {
  closeView();
  closeView = () => {};
  const m = location.hash.match(/^#\/run\/([0-9a-zA-Z]+)/);
  try {
    if (m) await showRun(m[1]);
    else await showRuns();
  } catch (err) {
    showError(err);
  }
}

projectSelect.addEventListener("change", () => { location.hash = "#/"; route(); });
filterInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { location.hash = "#/"; route(); } });
window.addEventListener("hashchange", route);
loadProjects().catch(showError);
route();
