// aekit's interactive code map (see code_map.py): draws the points of the JSON block
// #aekit-map-data as SVG; hovering over a point shows that example and its
// reconstruction, a click keeps it shown. No library: the page must work offline.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("aekit-map-data").textContent);
  const root = document.getElementById("aekit-map");
  const plot = root.querySelector(".aekit-map-plot");
  const legend = root.querySelector(".aekit-map-legend");
  const detail = document.getElementById("aekit-map-detail");
  const W = 560, H = 460, M = { l: 58, r: 14, t: 12, b: 44 };
  const n = data.x.length;
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const fmt = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : +v.toPrecision(4));

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    const pad = 0.04 * (hi - lo);
    return [lo - pad, hi + pad];
  }
  function ticks(lo, hi) {  // about five round numbers in [lo, hi]
    const raw = (hi - lo) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw);
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(+t.toPrecision(6));
    return out;
  }
  const [x0, x1] = extent(data.x), [y0, y1] = extent(data.y);
  const sx = (v) => M.l + ((v - x0) / (x1 - x0)) * (W - M.l - M.r);
  const sy = (v) => H - M.b - ((v - y0) / (y1 - y0)) * (H - M.t - M.b);
  const colour = data.colour;
  const colourOf = (i) => (colour.by === "label" ? colour.colours[colour.of[i] % colour.colours.length] : colour.colours[i]);

  // the SVG as markup: innerHTML gives its elements the SVG namespace
  const s = [`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="code map, ${n} points">`];
  s.push(`<rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#bbb"/>`);
  for (const t of ticks(x0, x1)) {
    s.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${H - M.b}" y2="${H - M.b + 4}" stroke="#888"/>`);
    s.push(`<text x="${sx(t)}" y="${H - M.b + 16}" font-size="11" text-anchor="middle" fill="#444">${t}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    s.push(`<line x1="${M.l - 4}" x2="${M.l}" y1="${sy(t)}" y2="${sy(t)}" stroke="#888"/>`);
    s.push(`<text x="${M.l - 7}" y="${sy(t) + 4}" font-size="11" text-anchor="end" fill="#444">${t}</text>`);
  }
  s.push(`<text x="${(M.l + W - M.r) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">${esc(data.axes[0])}</text>`);
  s.push(`<text transform="translate(14 ${(M.t + H - M.b) / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(data.axes[1])}</text>`);
  for (let i = 0; i < n; i++) {
    s.push(`<circle class="pt" data-i="${i}" data-index="${data.index[i]}" cx="${sx(data.x[i]).toFixed(1)}" cy="${sy(data.y[i]).toFixed(1)}" r="3" fill="${colourOf(i)}" fill-opacity="0.75"/>`);
  }
  s.push('<circle class="mark" r="7" fill="none" stroke="#000" stroke-width="2" visibility="hidden" pointer-events="none"/></svg>');
  plot.innerHTML = s.join("");
  const svg = plot.querySelector("svg"), mark = svg.querySelector(".mark");

  if (colour.by === "label") {
    legend.innerHTML = "label:" + colour.classes.map((c, k) =>
      `<span class="chip" style="background:${colour.colours[k % colour.colours.length]}"></span>${esc(c)}`).join("");
  } else {
    const stops = colour.stops.map((c, k) => `${c} ${(100 * k) / (colour.stops.length - 1)}%`).join(",");
    legend.innerHTML = `${esc(colour.name)}: ≤ ${fmt(colour.lo)}<span class="bar" style="background:linear-gradient(to right,${stops})"></span>≥ ${fmt(colour.hi)} (1st to 99th percentile)`;
  }

  const ex = data.examples;
  const sheets = {};
  if (ex.kind === "image") {
    for (const key of ["original", "reconstruction"]) { sheets[key] = new Image(); sheets[key].src = ex[key]; }
  }
  function paint(canvas, key, i) {
    const sheet = sheets[key], ctx = canvas.getContext("2d");
    const draw = () => {
      if (+root.dataset.shown !== data.index[i]) return;  // another point was shown meanwhile
      ctx.imageSmoothingEnabled = false;
      const c = i % ex.cols, r = Math.floor(i / ex.cols);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(sheet, c * ex.w, r * ex.h, ex.w, ex.h, 0, 0, canvas.width, canvas.height);
      canvas.dataset.drawn = data.index[i];
    };
    if (sheet.complete && sheet.naturalWidth) draw(); else sheet.addEventListener("load", draw, { once: true });
  }

  function show(i) {
    if (i === null) { detail.innerHTML = "<p>Hover over or click a point to see the example and its reconstruction.</p>"; mark.setAttribute("visibility", "hidden"); delete root.dataset.shown; return; }
    const index = data.index[i];
    root.dataset.shown = index;
    mark.setAttribute("cx", sx(data.x[i]).toFixed(1));
    mark.setAttribute("cy", sy(data.y[i]).toFixed(1));
    mark.setAttribute("visibility", "visible");
    let head = `<p><b>${esc(data.split)} example #${index}</b>`;
    if (colour.by === "label") head += ` · label <span class="label">${esc(colour.classes[colour.of[i]])}</span>`;
    else {
      const v = colour.values[i];
      head += `<br>${esc(colour.name)}: ${fmt(v)}`;
      if (colour.offset !== null) head += v < colour.offset ? " (an outlier: below the threshold " + fmt(colour.offset) + ")" : " (normal)";
    }
    head += "</p>";
    if (ex.kind === "image") {
      const size = (k) => `width="${k * ex.scale}"`;
      const fig = (key) => `<figure><canvas data-key="${key}" ${size(ex.w)} height="${ex.h * ex.scale}"></canvas><figcaption>${key}</figcaption></figure>`;
      detail.innerHTML = head + fig("original") + fig("reconstruction");
      for (const canvas of detail.querySelectorAll("canvas")) paint(canvas, canvas.dataset.key, i);
    } else if (ex.kind === "table") {  // a mixed table's row: cells in the user's terms
      const cell = (v) => (v === null ? '<i class="missing">missing</i>' : esc(v));
      const rows = ex.names.map((name, j) => {
        const a = ex.values[i][j], b = ex.recon[i][j];
        const changed = ex.levelled[j] && a !== null && a !== b;
        return `<tr${changed ? ' class="changed"' : ""}><th>${esc(name)}</th><td>${cell(a)}</td><td>${cell(b)}</td></tr>`;
      });
      detail.innerHTML = head + '<div class="aekit-map-values"><table><tr><th></th><th>value</th><th>reconstruction</th></tr>' + rows.join("") + "</table></div>";
    } else {
      const rows = ex.names.map((name, j) => {
        const a = ex.values[i * ex.width + j], b = ex.recon[i * ex.width + j];
        return `<tr><th>${esc(name)}</th><td>${fmt(a)}</td><td>${fmt(b)}</td><td>${fmt(b - a)}</td></tr>`;
      });
      detail.innerHTML = head + '<div class="aekit-map-values"><table><tr><th></th><th>value</th><th>reconstruction</th><th>difference</th></tr>' + rows.join("") + "</table></div>";
    }
  }

  let pinned = null;
  const pointOf = (event) => (event.target.classList && event.target.classList.contains("pt") ? +event.target.dataset.i : null);
  svg.addEventListener("mouseover", (event) => { const i = pointOf(event); if (i !== null) show(i); });
  svg.addEventListener("mouseleave", () => show(pinned));
  svg.addEventListener("click", (event) => { const i = pointOf(event); if (i !== null) { pinned = i; show(i); } });
  show(null);
})();
