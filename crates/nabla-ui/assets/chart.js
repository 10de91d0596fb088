// A line chart on a canvas: one series of (step, value) points, axes with round tick values,
// redrawn at most once per frame. Colours come from the page's CSS variables, so it follows
// light and dark mode.

const PAD = { left: 56, right: 12, top: 8, bottom: 24 };

/** Round tick values covering [lo, hi], about `count` of them. */
function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(t);
  return out;
}

function label(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

export class LineChart {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.steps = [];
    this.values = [];
    this.pending = false;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Replaces the data: `steps` and `values` are parallel arrays (null for NaN). */
  set(steps, values) {
    this.steps = Array.from(steps);
    this.values = Array.from(values);
    this.schedule();
  }

  /** Appends points after the last step shown (older or repeated steps are skipped). */
  append(steps, values) {
    const last = this.steps.length ? this.steps[this.steps.length - 1] : -Infinity;
    for (let i = 0; i < steps.length; i++) {
      if (steps[i] > last) {
        this.steps.push(steps[i]);
        this.values.push(values[i]);
      }
    }
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const { canvas, steps, values } = this;
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const css = getComputedStyle(canvas);
    const fg = css.getPropertyValue("--muted").trim() || "#888";
    const grid = css.getPropertyValue("--line").trim() || "#ccc";
    const stroke = css.getPropertyValue("--accent").trim() || "#06c";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = fg;
    if (!steps.length) {
      ctx.fillText("no points yet", PAD.left, PAD.top + 14);
      return;
    }
    let ylo = Infinity, yhi = -Infinity;
    for (const v of values) {
      if (v === null || !Number.isFinite(v)) continue;
      if (v < ylo) ylo = v;
      if (v > yhi) yhi = v;
    }
    if (ylo === Infinity) { ylo = 0; yhi = 1; }
    if (ylo === yhi) { ylo -= 0.5; yhi += 0.5; }
    const margin = (yhi - ylo) * 0.05;
    ylo -= margin; yhi += margin;
    const xlo = steps[0], xhi = steps[steps.length - 1] === xlo ? xlo + 1 : steps[steps.length - 1];
    const plotW = width - PAD.left - PAD.right, plotH = height - PAD.top - PAD.bottom;
    const x = (s) => PAD.left + ((s - xlo) / (xhi - xlo)) * plotW;
    const y = (v) => PAD.top + (1 - (v - ylo) / (yhi - ylo)) * plotH;

    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of ticks(ylo, yhi, 4)) {
      const py = Math.round(y(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(PAD.left, py); ctx.lineTo(width - PAD.right, py); ctx.stroke();
      ctx.fillText(label(t), PAD.left - 6, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of ticks(xlo, xhi, Math.max(2, Math.floor(plotW / 90)))) {
      ctx.fillText(label(t), x(t), height - PAD.bottom + 6);
    }

    ctx.strokeStyle = stroke;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let drawing = false;
    for (let i = 0; i < steps.length; i++) {
      const v = values[i];
      // A NaN (null) breaks the line instead of dropping it to zero.
      if (v === null || !Number.isFinite(v)) { drawing = false; continue; }
      const px = x(steps[i]), py = y(v);
      if (drawing) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      drawing = true;
    }
    ctx.stroke();
    canvas.dataset.points = String(steps.length);
    canvas.dataset.lastStep = String(steps[steps.length - 1]);
  }
}
