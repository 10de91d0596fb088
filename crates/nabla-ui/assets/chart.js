// Charts drawn on canvas, by hand: a line chart of one or more series (steps or wall time on x,
// EMA smoothing, log scale, hover read-out, drag to zoom) and a parallel-coordinates chart of
// hyperparameters. Colours come from the page's CSS variables, so both follow light and dark
// mode. Every chart redraws at most once per animation frame.

const PAD = { left: 58, right: 14, top: 10, bottom: 26 };

/** Series colours: distinct on white and on near-black backgrounds. */
export const PALETTE = [
  "#2f7ed8", "#e8590c", "#2b9348", "#c2255c", "#7048e8", "#b08900", "#0b9bb5", "#d6336c",
  "#5c940d", "#845ef7",
];

/** Settings every line chart of a view shares; change them, then call `redraw` on the charts. */
export const defaults = () => ({ smoothing: 0, xAxis: "step", logY: false });

/** Round tick values covering [lo, hi], about `count` of them. */
export function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  // Multiples of the step, rounded to 12 digits: adding steps up would drift (0.6000000000000001).
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  // A narrow range can fall between two round values: ask for finer ones.
  return out.length < 2 && count < 64 ? ticks(lo, hi, count * 2) : out;
}

/** A number in at most four significant digits. */
export function label(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** Seconds as `42s`, `3m 05s`, `1h 20m`. */
export function seconds(s) {
  if (!Number.isFinite(s)) return "";
  const sign = s < 0 ? "-" : "";
  s = Math.abs(s);
  if (s < 60) return `${sign}${Number(s.toPrecision(3))}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${sign}${m}m ${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${sign}${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** TensorBoard's smoothing: an exponential moving average, debiased at the start, that steps
 *  over NaN (null) values. `weight` 0 returns the values as they are. */
export function ema(values, weight) {
  if (!(weight > 0)) return values;
  const out = new Array(values.length);
  let last = 0, n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

/** The index of the first element of sorted `xs` that is >= x. */
function lowerBound(xs, x) {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function cssColors(canvas) {
  const css = getComputedStyle(canvas);
  const get = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return { fg: get("--fg", "#222"), muted: get("--muted", "#888"), grid: get("--line", "#ddd"), panel: get("--panel", "#f6f6f6"), bg: get("--bg", "#fff") };
}

/** Sizes the canvas to its CSS box at the device's pixel ratio; the 2D context in CSS pixels. */
function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (!width || !height) return null;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, width, height };
}

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{smoothing: number, xAxis: string, logY: boolean}} settings shared with other charts
   */
  constructor(canvas, settings = defaults()) {
    this.canvas = canvas;
    this.settings = settings;
    /** @type {Map<string, {label: string, color: string, t0: number, steps: number[], walls: number[], values: (number|null)[], hidden: boolean}>} */
    this.series = new Map();
    this.zoom = null; // [x0, x1] in the current x axis's units
    this.hover = null; // canvas x in CSS pixels
    this.drag = null;
    this.pending = false;
    this.frame = null; // what the last draw mapped: for hover and zoom
    /** Called with the step range whenever a step range is zoomed into (to fetch finer points). */
    this.onZoom = null;
    /** Called with the new range ([x0, x1], or null for everything) when the user zooms or
     *  resets this chart: the charts synced with it follow through `setZoom`. */
    this.onRange = null;
    new ResizeObserver(() => this.redraw()).observe(canvas);
    canvas.addEventListener("mousemove", (e) => {
      this.hover = e.offsetX;
      if (this.drag) this.drag.x1 = e.offsetX;
      this.redraw();
    });
    canvas.addEventListener("mouseleave", () => { this.hover = null; this.drag = null; this.redraw(); });
    canvas.addEventListener("mousedown", (e) => {
      if (e.button === 0 && this.frame) { this.drag = { x0: e.offsetX, x1: e.offsetX }; e.preventDefault(); }
    });
    canvas.addEventListener("mouseup", () => {
      const { drag, frame } = this;
      this.drag = null;
      if (drag && frame && Math.abs(drag.x1 - drag.x0) > 4) {
        this.setZoom([frame.invX(Math.min(drag.x0, drag.x1)), frame.invX(Math.max(drag.x0, drag.x1))], true);
      }
      this.redraw();
    });
    canvas.addEventListener("dblclick", () => this.setZoom(null, true));
  }

  /** Shows the x range [x0, x1] (in the current axis's units), or everything for null;
   *  `announce` tells `onRange`, so that synced charts follow. */
  setZoom(range, announce = false) {
    this.zoom = range;
    // The server can fill the stretch in at a finer resolution than the whole-run view.
    if (range && this.onZoom && this.settings.xAxis === "step") this.onZoom(range[0], range[1]);
    if (announce && this.onRange) this.onRange(range);
    this.redraw();
  }

  /** Replaces one series: parallel arrays of steps, wall times (Unix s) and values (null: NaN). */
  set(key, { label: name = key, color = PALETTE[0], t0 = 0, steps, walls, values }) {
    const old = this.series.get(key);
    this.series.set(key, {
      label: name, color, t0, hidden: old ? old.hidden : false,
      steps: Array.from(steps), walls: Array.from(walls || steps.map(() => t0)), values: Array.from(values),
    });
    this.redraw();
  }

  /** Appends points after the series' last step (older or repeated steps are skipped). */
  append(key, steps, walls, values) {
    const s = this.series.get(key);
    if (!s) return;
    const last = s.steps.length ? s.steps[s.steps.length - 1] : -Infinity;
    for (let i = 0; i < steps.length; i++) {
      if (steps[i] > last) {
        s.steps.push(steps[i]);
        s.walls.push(walls ? walls[i] : s.t0);
        s.values.push(values[i]);
      }
    }
    this.redraw();
  }

  /** Puts finer points for a step range in place of the ones the series has there. */
  merge(key, steps, walls, values) {
    const s = this.series.get(key);
    if (!s || !steps.length) return;
    const a = lowerBound(s.steps, steps[0]);
    let b = lowerBound(s.steps, steps[steps.length - 1]);
    if (b < s.steps.length && s.steps[b] === steps[steps.length - 1]) b++;
    s.steps.splice(a, b - a, ...steps);
    s.walls.splice(a, b - a, ...(walls || steps.map(() => s.t0)));
    s.values.splice(a, b - a, ...values);
    this.redraw();
  }

  /** Shows or hides one series (the legend's toggle). */
  setHidden(key, hidden) {
    const s = this.series.get(key);
    if (s) { s.hidden = hidden; this.redraw(); }
  }

  /** Draws on the next animation frame. */
  redraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  /** The series as they are shown: x in the chosen axis, y smoothed and log-filtered. */
  visible() {
    const { smoothing, xAxis, logY } = this.settings;
    const out = [];
    for (const [key, s] of this.series) {
      if (s.hidden || !s.steps.length) continue;
      const xs = xAxis === "wall" ? s.walls.map((w) => w - s.t0) : s.steps;
      const keep = (v) => v !== null && Number.isFinite(v) && (!logY || v > 0);
      const raw = s.values.map((v) => (keep(v) ? v : null));
      const smooth = ema(raw, smoothing);
      out.push({ key, s, xs, raw, smooth });
    }
    return out;
  }

  draw() {
    const { canvas } = this;
    const prepared = prepare(canvas);
    if (!prepared) return;
    const { ctx, width, height } = prepared;
    const colors = cssColors(canvas);
    const { logY, smoothing, xAxis } = this.settings;
    const shown = this.visible();
    let points = 0, lastStep = -1;
    for (const s of this.series.values()) {
      points += s.steps.length;
      if (s.steps.length) lastStep = Math.max(lastStep, s.steps[s.steps.length - 1]);
    }
    canvas.dataset.points = String(points);
    canvas.dataset.lastStep = lastStep >= 0 ? String(lastStep) : "";
    ctx.fillStyle = colors.muted;
    if (!shown.length) {
      this.frame = null;
      ctx.fillText(points ? "no positive values for a log scale" : "no points yet", PAD.left, PAD.top + 14);
      return;
    }
    // The x range: the zoom, else everything.
    let xlo = Infinity, xhi = -Infinity;
    for (const { xs } of shown) { xlo = Math.min(xlo, xs[0]); xhi = Math.max(xhi, xs[xs.length - 1]); }
    if (this.zoom) [xlo, xhi] = this.zoom;
    if (!(xhi > xlo)) xhi = xlo + 1;
    // The y range: what lies inside the x range, raw values included (they are drawn faintly).
    const ty = logY ? Math.log10 : (v) => v;
    let ylo = Infinity, yhi = -Infinity;
    for (const { xs, raw, smooth } of shown) {
      const a = Math.max(0, lowerBound(xs, xlo) - 1), b = Math.min(xs.length, lowerBound(xs, xhi) + 1);
      for (let i = a; i < b; i++) {
        for (const v of [raw[i], smooth[i]]) {
          if (v === null || !Number.isFinite(v)) continue;
          const t = ty(v);
          if (t < ylo) ylo = t;
          if (t > yhi) yhi = t;
        }
      }
    }
    if (ylo === Infinity) { ylo = 0; yhi = 1; }
    if (ylo === yhi) { ylo -= 0.5; yhi += 0.5; }
    const margin = (yhi - ylo) * 0.05;
    ylo -= margin; yhi += margin;
    const plotW = width - PAD.left - PAD.right, plotH = height - PAD.top - PAD.bottom;
    const x = (v) => PAD.left + ((v - xlo) / (xhi - xlo)) * plotW;
    const y = (v) => PAD.top + (1 - (ty(v) - ylo) / (yhi - ylo)) * plotH;
    const invX = (px) => xlo + ((px - PAD.left) / plotW) * (xhi - xlo);
    this.frame = { invX, x };
    canvas.dataset.xRange = `${xlo},${xhi}`;

    // Grid and labels.
    ctx.strokeStyle = colors.grid;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const yticks = ticks(ylo, yhi, Math.max(3, Math.floor(plotH / 32)));
    const logTicks = logY && yhi - ylo >= 1 ? yticks.filter((t) => Number.isInteger(t)) : yticks;
    for (const t of logTicks.length >= 2 ? logTicks : yticks) {
      const py = Math.round(PAD.top + (1 - (t - ylo) / (yhi - ylo)) * plotH) + 0.5;
      ctx.beginPath(); ctx.moveTo(PAD.left, py); ctx.lineTo(width - PAD.right, py); ctx.stroke();
      ctx.fillText(label(logY ? 10 ** t : t), PAD.left - 6, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of ticks(xlo, xhi, Math.max(2, Math.floor(plotW / 90)))) {
      ctx.fillText(xAxis === "wall" ? seconds(t) : label(t), x(t), height - PAD.bottom + 7);
    }

    // The series, clipped to the plot: raw faintly under the smoothed line when smoothing.
    ctx.save();
    ctx.beginPath();
    ctx.rect(PAD.left, PAD.top, plotW, plotH);
    ctx.clip();
    const line = (xs, ys, color, alpha, widthPx) => {
      ctx.strokeStyle = color;
      ctx.globalAlpha = alpha;
      ctx.lineWidth = widthPx;
      ctx.beginPath();
      let drawing = false;
      const a = Math.max(0, lowerBound(xs, xlo) - 1), b = Math.min(xs.length, lowerBound(xs, xhi) + 1);
      for (let i = a; i < b; i++) {
        const v = ys[i];
        // A NaN (null) breaks the line instead of dropping it to zero.
        if (v === null || !Number.isFinite(v)) { drawing = false; continue; }
        const px = x(xs[i]), py = y(v);
        if (drawing) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        drawing = true;
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
    };
    for (const { s, xs, raw, smooth } of shown) {
      if (smoothing > 0) line(xs, raw, s.color, 0.25, 1);
      line(xs, smooth, s.color, 1, 1.6);
      // A lone point would not show as a line.
      if (xs.length === 1 && smooth[0] !== null) {
        ctx.fillStyle = s.color;
        ctx.beginPath(); ctx.arc(x(xs[0]), y(smooth[0]), 2.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
    ctx.restore();

    if (this.zoom) {
      ctx.fillStyle = colors.muted;
      ctx.textAlign = "right";
      ctx.fillText("double-click: whole range", width - PAD.right, PAD.top);
    }
    if (this.drag && Math.abs(this.drag.x1 - this.drag.x0) > 1) {
      ctx.fillStyle = colors.muted;
      ctx.globalAlpha = 0.15;
      ctx.fillRect(Math.min(this.drag.x0, this.drag.x1), PAD.top, Math.abs(this.drag.x1 - this.drag.x0), plotH);
      ctx.globalAlpha = 1;
    }
    if (this.hover !== null && this.hover >= PAD.left && this.hover <= width - PAD.right) {
      this.drawHover(ctx, shown, colors, { width, plotH, x, y, invX });
    }
  }

  /** A vertical rule at the mouse and a box with each series' value at the nearest point. */
  drawHover(ctx, shown, colors, { width, plotH, x, y, invX }) {
    const at = invX(this.hover);
    const rows = [];
    let anchor = null;
    for (const { s, xs, raw, smooth } of shown) {
      let i = lowerBound(xs, at);
      if (i >= xs.length || (i > 0 && at - xs[i - 1] < xs[i] - at)) i -= 1;
      if (i < 0) continue;
      if (anchor === null) anchor = xs[i];
      const v = smooth[i];
      const text = v === null || !Number.isFinite(v) ? "NaN" : label(v);
      const rawText = this.settings.smoothing > 0 && raw[i] !== null ? ` (${label(raw[i])})` : "";
      rows.push({ color: s.color, text: `${s.label}: ${text}${rawText}`, step: s.steps[i], wall: s.walls[i] - s.t0 });
      if (v !== null && Number.isFinite(v)) {
        ctx.fillStyle = s.color;
        ctx.beginPath(); ctx.arc(x(xs[i]), y(v), 3, 0, 2 * Math.PI); ctx.fill();
      }
    }
    if (!rows.length) return;
    const px = Math.round(x(anchor)) + 0.5;
    ctx.strokeStyle = colors.muted;
    ctx.beginPath(); ctx.moveTo(px, PAD.top); ctx.lineTo(px, PAD.top + plotH); ctx.stroke();
    const head = `step ${rows[0].step} · ${seconds(rows[0].wall)}`;
    const lines = [head, ...rows.map((r) => r.text)];
    const boxW = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 22;
    const boxH = lines.length * 15 + 8;
    const bx = px + 10 + boxW > width ? px - 10 - boxW : px + 10;
    ctx.fillStyle = colors.bg;
    ctx.strokeStyle = colors.grid;
    ctx.globalAlpha = 0.92;
    ctx.fillRect(bx, PAD.top + 2, boxW, boxH);
    ctx.globalAlpha = 1;
    ctx.strokeRect(bx + 0.5, PAD.top + 2.5, boxW, boxH);
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    lines.forEach((l, i) => {
      const ly = PAD.top + 6 + i * 15;
      if (i > 0) { ctx.fillStyle = rows[i - 1].color; ctx.fillRect(bx + 6, ly + 3, 8, 8); }
      ctx.fillStyle = i === 0 ? colors.muted : colors.fg;
      ctx.fillText(l, bx + (i > 0 ? 18 : 6), ly);
    });
  }
}

/** Parallel coordinates: one vertical axis per hyperparameter, the chosen metric last, one
 *  polyline per run coloured by that metric. Numeric axes spanning more than a factor of 50 of
 *  positive values are logarithmic (learning rates); text values get evenly spaced places. */
export class ParallelCoords {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.axes = [];
    this.rows = [];
    this.hover = null;
    this.pending = false;
    new ResizeObserver(() => this.redraw()).observe(canvas);
    canvas.addEventListener("mousemove", (e) => { this.hover = [e.offsetX, e.offsetY]; this.redraw(); });
    canvas.addEventListener("mouseleave", () => { this.hover = null; this.redraw(); });
  }

  /** `axes`: [{key, label}], the metric last; `rows`: [{label, color?, values: {key: value}}]. */
  set(axes, rows) {
    this.axes = axes;
    this.rows = rows;
    this.redraw();
  }

  redraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  /** Maps each axis's values to [0, 1] (0 at the bottom). */
  scales() {
    return this.axes.map(({ key }) => {
      const vals = this.rows.map((r) => r.values[key]).filter((v) => v !== null && v !== undefined);
      if (vals.length && vals.every((v) => typeof v === "number" && Number.isFinite(v))) {
        let lo = Math.min(...vals), hi = Math.max(...vals);
        const log = lo > 0 && hi / lo > 50;
        const f = log ? Math.log10 : (v) => v;
        const [a, b] = hi > lo ? [f(lo), f(hi)] : [f(lo) - 1, f(lo) + 1];
        const tickVals = log ? ticks(a, b, 4).filter(Number.isInteger).map((t) => 10 ** t) : ticks(lo, hi, 4);
        return { map: (v) => (typeof v === "number" ? (f(v) - a) / (b - a) : null), ticks: tickVals.length ? tickVals : [lo, hi] };
      }
      const cats = [...new Set(vals.map(String))].sort();
      const place = (v) => (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1));
      return { map: (v) => (v === null || v === undefined ? null : place(v)), ticks: cats, categorical: true };
    });
  }

  draw() {
    const { canvas, axes, rows } = this;
    const prepared = prepare(canvas);
    if (!prepared) return;
    const { ctx, width, height } = prepared;
    const colors = cssColors(canvas);
    canvas.dataset.points = "0";
    ctx.fillStyle = colors.muted;
    if (axes.length < 2 || !rows.length) {
      ctx.fillText("needs runs with a config and the chosen summary value", 12, 20);
      return;
    }
    const top = 28, bottom = 18, left = 60, right = 60;
    const plotH = height - top - bottom;
    const ax = (i) => left + (i * (width - left - right)) / (axes.length - 1);
    const scales = this.scales();
    const ypos = (t) => top + (1 - t) * plotH;
    // Colour by the metric: from blue (low) to orange (high).
    const lowC = [47, 126, 216], highC = [232, 89, 12];
    const colorOf = (t) => (t === null ? colors.muted
      : `rgb(${lowC.map((c, k) => Math.round(c + (highC[k] - c) * t)).join(",")})`);
    const lines = rows.map((r) => ({ r, ts: axes.map((a, i) => scales[i].map(r.values[a.key])) }));
    // The line nearest the mouse is highlighted and named.
    let near = null;
    if (this.hover) {
      const [hx, hy] = this.hover;
      let best = 12;
      for (const l of lines) {
        for (let i = 0; i + 1 < axes.length; i++) {
          if (hx < ax(i) || hx > ax(i + 1) || l.ts[i] === null || l.ts[i + 1] === null) continue;
          const f = (hx - ax(i)) / (ax(i + 1) - ax(i));
          const d = Math.abs(hy - ypos(l.ts[i] + f * (l.ts[i + 1] - l.ts[i])));
          if (d < best) { best = d; near = l; }
        }
      }
    }
    let drawn = 0;
    for (const l of lines) {
      ctx.strokeStyle = colorOf(l.ts[l.ts.length - 1]);
      ctx.globalAlpha = near && near !== l ? 0.25 : 0.85;
      ctx.lineWidth = near === l ? 3 : 1.5;
      ctx.beginPath();
      let drawing = false;
      l.ts.forEach((t, i) => {
        if (t === null) { drawing = false; return; }
        if (drawing) ctx.lineTo(ax(i), ypos(t)); else ctx.moveTo(ax(i), ypos(t));
        drawing = true;
      });
      ctx.stroke();
      drawn++;
    }
    ctx.globalAlpha = 1;
    canvas.dataset.points = String(drawn);
    axes.forEach((a, i) => {
      ctx.strokeStyle = colors.fg;
      ctx.lineWidth = 1;
      const px = Math.round(ax(i)) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, top + plotH); ctx.stroke();
      ctx.fillStyle = colors.fg;
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      ctx.font = i === axes.length - 1 ? "600 12px system-ui, sans-serif" : "12px system-ui, sans-serif";
      ctx.fillText(a.label, px, top - 8);
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = colors.muted;
      ctx.textAlign = i === axes.length - 1 ? "left" : "right";
      ctx.textBaseline = "middle";
      for (const t of scales[i].ticks) {
        const pos = scales[i].map(t);
        if (pos === null || pos < -0.01 || pos > 1.01) continue;
        ctx.fillText(scales[i].categorical ? String(t) : label(t), px + (i === axes.length - 1 ? 5 : -5), ypos(pos));
      }
    });
    if (near) {
      ctx.fillStyle = colors.fg;
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      const v = near.r.values[axes[axes.length - 1].key];
      ctx.fillText(`${near.r.label}: ${typeof v === "number" ? label(v) : "—"}`, left, height - bottom + 3);
    }
  }
}
