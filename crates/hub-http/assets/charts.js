// Line charts for the dashboard, drawn as SVG from each `[data-series]` element's JSON:
//   {"unit": "calls", "bucket_ms": 3600000, "t": [ms, …], "series": [{"name", "values": [v, …]}]}
// Values may be numbers, decimal strings (money) or null (no data). No library, no inline
// script or style (the CSP forbids both): colours and sizes are SVG attributes and CSS classes.
(() => {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 560, H = 230, PAD = { left: 56, right: 12, top: 24, bottom: 30 };
  const COLOURS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c"];

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs) {
    const t = el("text", Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = content;
    return t;
  }

  // 1, 2 or 5 times a power of ten: tick steps people read easily.
  function niceStep(max, ticks) {
    const raw = max / ticks;
    const pow = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
    return 10 * pow;
  }

  function formatNumber(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    const abs = Math.abs(v);
    if (abs >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (abs >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (abs >= 1e4) return (v / 1e3).toFixed(1) + "k";
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(3)));
  }

  function formatTime(ms, bucketMs) {
    const d = new Date(ms);
    const iso = d.toISOString();
    return bucketMs >= 86400000 ? iso.slice(5, 10) : iso.slice(5, 10) + " " + iso.slice(11, 16);
  }

  function draw(host) {
    let data;
    try {
      data = JSON.parse(host.dataset.series);
    } catch (_) {
      host.textContent = "Chart data could not be read.";
      return;
    }
    const t = data.t || [];
    const series = (data.series || []).map((s) => ({
      name: s.name,
      // Money arrives as decimal strings; parsed here for plotting only.
      raw: s.values,
      values: s.values.map((v) => (v === null ? null : Number(v))),
    }));
    host.textContent = "";
    if (t.length === 0) {
      host.textContent = "No data in this range.";
      return;
    }
    const max = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
    const step = max > 0 ? niceStep(max, 4) : 1;
    const top = max > 0 ? Math.ceil(max / step) * step : 4;
    const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
    const x = (i) => PAD.left + (t.length === 1 ? plotW / 2 : (i * plotW) / (t.length - 1));
    const y = (v) => PAD.top + plotH - (v / top) * plotH;

    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "presentation" }, host);
    // Y axis: grid lines and labels with the unit.
    for (let v = 0; v <= top + step / 2; v += step) {
      el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }, svg);
      text(svg, PAD.left - 6, y(v) + 4, formatNumber(v), { class: "tick", "text-anchor": "end" });
    }
    text(svg, 4, 12, data.unit || "", { class: "unit" });
    // X axis: at most six time labels.
    const every = Math.max(1, Math.ceil(t.length / 6));
    for (let i = 0; i < t.length; i += every) {
      text(svg, x(i), H - 10, formatTime(t[i], data.bucket_ms), { class: "tick", "text-anchor": "middle" });
    }
    el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: "axis" }, svg);

    series.forEach((s, k) => {
      const colour = COLOURS[k % COLOURS.length];
      let d = "";
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null) { pen = false; return; }
        d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      el("path", { d, fill: "none", stroke: colour, "stroke-width": 2, class: "line" }, svg);
      s.values.forEach((v, i) => {
        if (v !== null && t.length <= 60) el("circle", { cx: x(i), cy: y(v), r: 2.5, fill: colour }, svg);
      });
    });

    // Legend.
    const legend = document.createElement("div");
    legend.className = "legend";
    series.forEach((s, k) => {
      const item = document.createElement("span");
      const swatch = el("svg", { width: 10, height: 10, class: "swatch" }, item);
      el("rect", { width: 10, height: 10, fill: COLOURS[k % COLOURS.length] }, swatch);
      item.appendChild(document.createTextNode(" " + s.name));
      legend.appendChild(item);
    });
    host.appendChild(legend);

    // Hover: a guide line and the values of the nearest bucket.
    const guide = el("line", { y1: PAD.top, y2: PAD.top + plotH, class: "guide", visibility: "hidden" }, svg);
    const tip = document.createElement("div");
    tip.className = "chart-tip";
    tip.hidden = true;
    host.appendChild(tip);
    svg.addEventListener("mousemove", (event) => {
      const box = svg.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * W;
      const i = t.length === 1 ? 0 : Math.round(((px - PAD.left) / plotW) * (t.length - 1));
      if (i < 0 || i >= t.length) return;
      guide.setAttribute("x1", x(i));
      guide.setAttribute("x2", x(i));
      guide.setAttribute("visibility", "visible");
      tip.hidden = false;
      tip.textContent = formatTime(t[i], data.bucket_ms) + " UTC — " + series.map((s) => `${s.name}: ${s.raw[i] === null ? "—" : s.raw[i]} ${data.unit || ""}`.trim()).join(", ");
    });
    svg.addEventListener("mouseleave", () => {
      guide.setAttribute("visibility", "hidden");
      tip.hidden = true;
    });
    host.dataset.drawn = "true";
  }

  function drawAll() {
    document.querySelectorAll("[data-series]").forEach(draw);
  }

  // The custom range fields matter only when "Custom" is chosen.
  function wireRange() {
    const select = document.getElementById("range");
    if (!select) return;
    const sync = () => {
      document.querySelectorAll(".custom-range").forEach((label) => {
        label.hidden = select.value !== "custom";
      });
    };
    select.addEventListener("change", sync);
    sync();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => { drawAll(); wireRange(); });
  } else {
    drawAll();
    wireRange();
  }
})();
