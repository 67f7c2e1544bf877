/* nnsim explorer: where two spaces disagree, track by track, with the audio.
 *
 * Static: the data come as scripts (explorer-data/*.js) holding raw little-endian typed arrays
 * (base64), because file:// pages may not fetch.  Nothing a user types is inserted as HTML
 * (textContent only).  The view lives in the address (#a=..&b=..), so a link reproduces it.
 */
(function () {
  "use strict";
  const D = (window.NNSIM_DATA = window.NNSIM_DATA || {});
  const meta = D.meta;
  const $ = (sel) => document.querySelector(sel);
  const status = (text) => { $("#status").textContent = text; };
  if (!meta) { status("The explorer's data (explorer-data/meta.js) are missing: rebuild the site (dvc repro site)."); return; }

  const N = meta.ids.length, S = meta.spaces.length, K = meta.k, CUT = meta.cutoffs;
  const ids = meta.ids;
  const idIndex = new Map(ids.map((t, i) => [t, i]));
  const spaceIndex = new Map(meta.spaces.map((s, i) => [s, i]));
  const params = new URLSearchParams(location.search);
  const RENDERER = params.get("renderer") === "rects" ? "rects" : "pixels";

  // ---- data --------------------------------------------------------------------------------
  const TYPES = { int32: Int32Array, float32: Float32Array, uint8: Uint8Array, uint16: Uint16Array };
  function decode(a) {
    const bin = atob(a.b64);
    const buf = new ArrayBuffer(bin.length);
    const u8 = new Uint8Array(buf);
    for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    return { data: new TYPES[a.dtype](buf), shape: a.shape };
  }
  const loading = new Map();
  function load(name) {
    if (!loading.has(name)) {
      loading.set(name, new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = "explorer-data/" + name + ".js";
        s.onload = () => {
          const raw = D[name];
          if (!raw) { reject(new Error(s.src + " holds no data")); return; }
          const out = {};
          for (const key of Object.keys(raw)) out[key] = decode(raw[key]);
          delete D[name];
          resolve(out);
        };
        s.onerror = () => reject(new Error("cannot load " + s.src + ": rebuild the site (dvc repro site)"));
        document.head.appendChild(s);
      }));
    }
    return loading.get(name);
  }
  const space = (i) => load("space-" + i);
  const mapData = (m) => load("map-" + m);
  const allSpaces = () => Promise.all(meta.spaces.map((_, i) => space(i)));
  const mapsOf = (s) => meta.maps.map((m, j) => ({ ...m, index: j })).filter((m) => m.space === s);

  // ---- colours -----------------------------------------------------------------------------
  const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
  const OKABE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"];
  const OTHER = "#999999";
  const hexRgb = (h) => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
  const V = VIRIDIS.map(hexRgb);
  function ramp(v) { // v in [0, 1] -> [r, g, b]
    const x = Math.min(1, Math.max(0, v)) * (V.length - 1), i = Math.min(V.length - 2, Math.floor(x)), f = x - i;
    return [0, 1, 2].map((c) => Math.round(V[i][c] + f * (V[i + 1][c] - V[i][c])));
  }
  const pack = ([r, g, b], a = 255) => ((a << 24) | (b << 16) | (g << 8) | r) >>> 0; // ImageData order
  const css = ([r, g, b]) => `rgb(${r},${g},${b})`;
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  // black or white, whichever contrasts more (WCAG relative luminance; always >= 4.58:1)
  const textOn = ([r, g, b]) => { const L = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b); return (L + 0.05) / 0.05 >= 1.05 / (L + 0.05) ? "#000" : "#fff"; };
  const DIM = pack([214, 214, 214]);

  // ---- state and the address -----------------------------------------------------------------
  const state = { a: null, b: null, n: CUT.includes(10) ? 10 : CUT[CUT.length - 1], ma: null, mb: null,
    colour: "agreement", filter: 1, order: "asc", track: null, ref: 0, sel: [], va: null, vb: null, measure: "sn" };
  const MEASURES = meta.measures || [];
  const measureOf = (key) => MEASURES.find((x) => x.key === key) || null;
  function fromHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    const sp = (k) => (h.has(k) && spaceIndex.has(h.get(k)) ? spaceIndex.get(h.get(k)) : null);
    state.a = sp("a"); state.b = sp("b");
    if (state.a === null || state.b === null || state.a === state.b) { state.a = state.b = null; }
    const n = parseInt(h.get("n"), 10); if (CUT.includes(n)) state.n = n;
    state.ma = h.get("ma"); state.mb = h.get("mb");
    const c = h.get("colour"); if (c && (c === "agreement" || c === "none" || meta.colour_columns.includes(c))) state.colour = c;
    const f = parseFloat(h.get("filter")); if (f >= 0 && f <= 1) state.filter = f;
    const mk = h.get("m"); if (mk && measureOf(mk)) state.measure = mk;
    if (h.get("order") === "desc") state.order = "desc";
    const t = h.get("t"); state.track = t !== null && idIndex.has(t) ? idIndex.get(t) : null;
    const r = sp("ref"); if (r !== null) state.ref = r;
    state.sel = (h.get("sel") || "").split(",").filter((x) => x !== "").map(decodeURIComponent).filter((x) => idIndex.has(x)).map((x) => idIndex.get(x));
    const view = (k) => { const v = (h.get(k) || "").split(",").map(Number); return v.length === 3 && v.every(Number.isFinite) && v[2] > 0 ? { x: v[0], y: v[1], s: v[2] } : null; };
    state.va = view("va"); state.vb = view("vb");
  }
  function toHash() {
    const h = new URLSearchParams();
    if (state.a !== null) {
      h.set("a", meta.spaces[state.a]); h.set("b", meta.spaces[state.b]);
      h.set("ma", views[0].key); h.set("mb", views[1].key);
      h.set("va", views[0].viewString()); h.set("vb", views[1].viewString());
    }
    h.set("n", String(state.n)); h.set("colour", state.colour);
    if (state.measure !== "sn") h.set("m", state.measure);
    if (state.filter < 1) h.set("filter", String(state.filter));
    if (state.order !== "asc") h.set("order", state.order);
    if (state.track !== null) h.set("t", ids[state.track]);
    h.set("ref", meta.spaces[state.ref]);
    if (state.sel.length) h.set("sel", state.sel.map((i) => encodeURIComponent(ids[i])).join(","));
    history.replaceState(null, "", "#" + h.toString());
    $("#link").value = location.href;
  }

  // ---- the maps ------------------------------------------------------------------------------
  class MapView {
    constructor(fig) {
      this.fig = fig; this.canvas = fig.querySelector("canvas"); this.ctx = this.canvas.getContext("2d");
      this.select = fig.querySelector(".map-select"); this.x = null; this.y = null; this.key = null;
      this.view = { x: 0, y: 0, s: 1 }; this.space = null; this.image = null; this.draws = 0;
      this.resize();
      new ResizeObserver(() => { if (this.resize()) this.draw(); }).observe(this.canvas);
      this.bindPointer();
      fig.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
        const z = b.dataset.zoom;
        if (z === "reset") this.view = { x: 0, y: 0, s: 1 }; else this.zoomAt(this.canvas.width / 2, this.canvas.height / 2, z === "in" ? 1.5 : 1 / 1.5);
        this.draw(); toHash();
      }));
    }
    resize() {
      const dpr = window.devicePixelRatio || 1, w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
      if (w === this.canvas.width && w === this.canvas.height) return false;
      this.canvas.width = this.canvas.height = w; this.image = null; return true;
    }
    setMap(key, coords) { // normalise: centre on the data, fit the longer side into [-1, 1]
      this.key = key;
      const c = coords.data, n = c.length / 2;
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let i = 0; i < n; i++) {
        const x = c[2 * i], y = c[2 * i + 1];
        if (Number.isFinite(x) && Number.isFinite(y)) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
      }
      const half = Math.max(x1 - x0, y1 - y0, 1e-12) / 2, cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
      this.x = new Float32Array(n); this.y = new Float32Array(n);
      for (let i = 0; i < n; i++) { this.x[i] = (c[2 * i] - cx) / half; this.y[i] = -(c[2 * i + 1] - cy) / half; }
    }
    scale() { return 0.47 * this.canvas.width * this.view.s; }
    px(i) { const s = this.scale(); return [this.canvas.width / 2 + (this.x[i] - this.view.x) * s, this.canvas.height / 2 + (this.y[i] - this.view.y) * s]; }
    toData(px, py) { const s = this.scale(); return [(px - this.canvas.width / 2) / s + this.view.x, (py - this.canvas.height / 2) / s + this.view.y]; }
    panBy(dx, dy) { const s = this.scale(); this.view.x -= dx / s; this.view.y -= dy / s; }
    zoomAt(px, py, f) {
      const [dx, dy] = this.toData(px, py);
      this.view.s = Math.min(500, Math.max(0.2, this.view.s * f));
      const [ex, ey] = this.toData(px, py); this.view.x += dx - ex; this.view.y += dy - ey;
    }
    viewString() { const v = this.view; return [v.x, v.y, v.s].map((z) => +z.toFixed(5)).join(","); }
    draw() {
      if (!this.x) return;
      const w = this.canvas.width, h = this.canvas.height, ctx = this.ctx, s = this.scale();
      const ox = w / 2 - this.view.x * s, oy = h / 2 - this.view.y * s;
      const r = Math.max(1, Math.round((window.devicePixelRatio || 1) * (N < 2000 ? 2.5 : N < 20000 ? 1.5 : 1)));
      const X = this.x, Y = this.y, colours = paint.colours, active = paint.active;
      if (RENDERER === "pixels") {
        if (!this.image) { this.image = ctx.createImageData(w, h); this.buf = new Uint32Array(this.image.data.buffer); }
        const buf = this.buf; buf.fill(0xffffffff);
        for (let pass = 0; pass < 2; pass++) {
          for (let i = 0; i < N; i++) {
            const on = active[i] === 1;
            if (on !== (pass === 1)) continue;
            const cx = Math.round(ox + X[i] * s), cy = Math.round(oy + Y[i] * s);
            if (cx < -r || cy < -r || cx >= w + r || cy >= h + r || cx !== cx) continue;
            const col = on ? colours[i] : DIM;
            const ya = Math.max(0, cy - r), yb = Math.min(h - 1, cy + r), xa = Math.max(0, cx - r), xb = Math.min(w - 1, cx + r);
            for (let yy = ya; yy <= yb; yy++) { const row = yy * w; for (let xx = xa; xx <= xb; xx++) buf[row + xx] = col; }
          }
        }
        ctx.putImageData(this.image, 0, 0);
      } else {
        ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
        for (let pass = 0; pass < 2; pass++) {
          for (let i = 0; i < N; i++) {
            const on = active[i] === 1;
            if (on !== (pass === 1)) continue;
            const cx = ox + X[i] * s, cy = oy + Y[i] * s;
            if (!(cx >= -r && cy >= -r && cx < w + r && cy < h + r)) continue;
            const c = on ? colours[i] : DIM;
            ctx.fillStyle = `rgb(${c & 255},${(c >>> 8) & 255},${(c >>> 16) & 255})`;
            ctx.fillRect(cx - r, cy - r, 2 * r + 1, 2 * r + 1);
          }
        }
      }
      // the open track (black ring) and its neighbours in this map's space (grey rings)
      if (state.track !== null && Number.isFinite(X[state.track])) {
        ctx.lineWidth = Math.max(1, r);
        const nb = tracksNeighbours(this.space);
        ctx.strokeStyle = "#555";
        for (const j of nb) { if (!Number.isFinite(X[j])) continue; const [a, b] = this.px(j); ctx.beginPath(); ctx.arc(a, b, 3 * r, 0, 2 * Math.PI); ctx.stroke(); }
        ctx.strokeStyle = "#000"; ctx.lineWidth = 2 * Math.max(1, r);
        const [a, b] = this.px(state.track); ctx.beginPath(); ctx.arc(a, b, 5 * r, 0, 2 * Math.PI); ctx.stroke();
      }
      if (this.brush) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.setLineDash([4, 3]); const q = this.brush; ctx.strokeRect(q[0], q[1], q[2] - q[0], q[3] - q[1]); ctx.setLineDash([]); }
      this.draws++;
    }
    nearest(px, py, within) {
      let best = -1, bd = within * within;
      for (let i = 0; i < N; i++) {
        if (!Number.isFinite(this.x[i]) || paint.active[i] !== 1) continue;
        const [a, b] = this.px(i), d = (a - px) ** 2 + (b - py) ** 2;
        if (d < bd) { bd = d; best = i; }
      }
      return best;
    }
    bindPointer() {
      const c = this.canvas; let down = null;
      const at = (e) => { const r = c.getBoundingClientRect(), k = c.width / r.width; return [(e.clientX - r.left) * k, (e.clientY - r.top) * k]; };
      c.addEventListener("pointerdown", (e) => { c.setPointerCapture(e.pointerId); down = { p: at(e), last: at(e), brush: e.shiftKey || brushMode, moved: false }; });
      c.addEventListener("pointermove", (e) => {
        if (!down) return;
        const p = at(e);
        if (Math.hypot(p[0] - down.p[0], p[1] - down.p[1]) > 4) down.moved = true;
        if (down.brush) this.brush = [Math.min(down.p[0], p[0]), Math.min(down.p[1], p[1]), Math.max(down.p[0], p[0]), Math.max(down.p[1], p[1])];
        else { this.panBy(p[0] - down.last[0], p[1] - down.last[1]); }
        down.last = p; requestDraw(this);
      });
      c.addEventListener("pointerup", (e) => {
        if (!down) return;
        const p = at(e), d = down; down = null;
        if (!d.moved) { const i = this.nearest(p[0], p[1], 10 * (window.devicePixelRatio || 1)); if (i >= 0) openTrack(i); }
        else if (d.brush && this.brush) {
          const [x0, y0] = this.toData(this.brush[0], this.brush[1]), [x1, y1] = this.toData(this.brush[2], this.brush[3]);
          const sel = [];
          for (let i = 0; i < N; i++) if (paint.active[i] === 1 && this.x[i] >= x0 && this.x[i] <= x1 && this.y[i] >= y0 && this.y[i] <= y1) sel.push(i);
          this.brush = null; setSelection(sel);
        }
        toHash(); drawAll();
      });
      c.addEventListener("wheel", (e) => { e.preventDefault(); const p = at(e); this.zoomAt(p[0], p[1], Math.exp(-e.deltaY * 0.0015)); requestDraw(this); scheduleHash(); }, { passive: false });
    }
  }
  const views = [new MapView($("#map-a")), new MapView($("#map-b"))];
  let brushMode = false, pending = new Set(), hashTimer = null;
  function requestDraw(v) { if (!pending.size) requestAnimationFrame(() => { const p = [...pending]; pending.clear(); p.forEach((x) => x.draw()); }); pending.add(v); }
  const drawAll = () => views.forEach((v) => v.draw());
  function scheduleHash() { clearTimeout(hashTimer); hashTimer = setTimeout(toHash, 200); }

  // what the maps paint: a colour per track, and whether it is active (not filtered out, selected)
  const paint = { colours: new Uint32Array(N), active: new Uint8Array(N), values: null, categories: null };
  let pairData = null; // space files of a and b
  function agreement() { // per-track S_n of the pair at n (the engine's counts / n)
    if (!pairData) return null;
    const ov = pairData[0].overlap, c = CUT.indexOf(state.n), out = new Float64Array(N), C = CUT.length;
    for (let i = 0; i < N; i++) out[i] = ov.data[(state.b * N + i) * C + c] / state.n;
    return out;
  }
  function repaint() {
    const agree = agreement();
    paint.values = null; paint.categories = null;
    if (state.colour === "agreement" && agree) {
      paint.values = agree;
      for (let i = 0; i < N; i++) paint.colours[i] = pack(ramp(agree[i]));
    } else if (state.colour !== "none" && meta.metadata[state.colour]) {
      const col = meta.metadata[state.colour], counts = new Map();
      col.forEach((v) => counts.set(v, (counts.get(v) || 0) + 1));
      const cats = [...counts.keys()].sort((p, q) => counts.get(q) - counts.get(p) || (p < q ? -1 : 1));
      const colourOf = new Map(cats.map((c, j) => [c, j < OKABE.length ? OKABE[j] : OTHER]));
      paint.categories = cats.map((c) => [c, colourOf.get(c)]);
      paint.values = col;
      for (let i = 0; i < N; i++) paint.colours[i] = pack(hexRgb(colourOf.get(col[i])));
    } else {
      paint.colours.fill(pack([0, 90, 156]));
    }
    const sel = new Set(state.sel);
    for (let i = 0; i < N; i++) paint.active[i] = (!agree || agree[i] <= state.filter + 1e-9) && (!sel.size || sel.has(i)) ? 1 : 0;
    legend();
  }
  function legend() {
    const el = $("#legend"); el.replaceChildren();
    if (paint.categories) {
      paint.categories.slice(0, OKABE.length).forEach(([c, colr]) => { const s = document.createElement("span"), sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = colr; s.append(sw, c); el.append(s); });
      if (paint.categories.length > OKABE.length) { const s = document.createElement("span"), sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = OTHER; s.append(sw, "other"); el.append(s); }
    } else if (state.colour === "agreement") {
      const lab = document.createElement("span"); lab.textContent = `Agreement (share of the top-${state.n} in common): 0`;
      const r = document.createElement("span"); r.className = "ramp"; r.style.background = `linear-gradient(to right, ${VIRIDIS.join(",")})`;
      const one = document.createElement("span"); one.textContent = "1"; el.append(lab, r, one);
    }
    const dim = document.createElement("span"), sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = "rgb(214,214,214)"; dim.append(sw, "filtered out or not selected"); el.append(dim);
  }
  function setSelection(sel) {
    state.sel = sel; repaint();
    $("#selection-count").textContent = sel.length ? `${sel.length} tracks selected` : "";
    disagreeTable();
  }

  // ---- the matrix ----------------------------------------------------------------------------
  function matrix() {
    const tab = $("#matrix"), c = CUT.indexOf(state.n); tab.replaceChildren();
    const head = tab.createTHead().insertRow(), corner = document.createElement("td"); head.append(corner);
    meta.labels.forEach((l) => { const th = document.createElement("th"); th.scope = "col"; th.textContent = l; head.append(th); });
    const body = tab.createTBody();
    for (let i = 0; i < S; i++) {
      const row = body.insertRow(), th = document.createElement("th"); th.scope = "row"; th.textContent = meta.labels[i]; row.append(th);
      for (let j = 0; j < S; j++) {
        const td = row.insertCell();
        if (i === j) { td.className = "diagonal"; td.textContent = "—"; continue; }
        const ms = measureOf(state.measure), b = document.createElement("button");
        const v = ms ? (ms.per_cutoff ? ms.values[i][j][c] : ms.values[i][j]) : meta.matrix[i][j][c];
        const name = ms ? (ms.per_cutoff ? `${ms.label} at n = ${state.n}` : ms.label) : `S_${state.n}`;
        b.type = "button"; b.dataset.a = i; b.dataset.b = j;
        if (v === null || v === undefined) {
          b.textContent = "n/a"; b.classList.add("no-value");
          b.setAttribute("aria-label", `${name} of ${meta.labels[i]} and ${meta.labels[j]}: no value (see the comparison's tables). Open the two spaces.`);
        } else {
          const [lo, hi] = ms ? ms.range : [0, 1], x = (v - lo) / (hi - lo), rgb = ramp(ms && ms.distance ? 1 - x : x);
          b.textContent = v.toFixed(2); b.style.background = css(rgb); b.style.color = textOn(rgb);
          b.setAttribute("aria-label", `${name} of ${meta.labels[i]} and ${meta.labels[j]}: ${v.toFixed(3)}. Open the two spaces.`);
        }
        if (state.a === i && state.b === j) { b.classList.add("current"); b.setAttribute("aria-current", "true"); }
        b.addEventListener("click", () => openPair(i, j, null, null));
        td.append(b);
      }
    }
    $("#distance").textContent = `${meta.distance} distance, ${N} tracks`;
  }

  // ---- a pair --------------------------------------------------------------------------------
  async function openPair(a, b, ma, mb, keepView) {
    state.a = a; state.b = b; status(`Loading ${meta.labels[a]} and ${meta.labels[b]}…`);
    const pick = (s, key) => { const ms = mapsOf(s); return ms.find((m) => m.key === key) || ms[0]; };
    const mA = pick(a, ma), mB = pick(b, mb);
    const [da, db, ca, cb] = await Promise.all([space(a), space(b), mapData(mA.index), mapData(mB.index)]);
    pairData = [da, db];
    [[views[0], a, mA, ca, state.va], [views[1], b, mB, cb, state.vb]].forEach(([v, s, m, coords, vw]) => {
      v.space = s; v.setMap(m.key, coords.coords); v.view = keepView && vw ? { ...vw } : { x: 0, y: 0, s: 1 };
      v.fig.querySelector(".space-name").textContent = meta.labels[s];
      v.select.replaceChildren(...mapsOf(s).map((o) => new Option(o.label, o.key, false, o.key === m.key)));
      v.select.setAttribute("aria-label", `Map of ${meta.labels[s]}`);
    });
    $("#pair-section").hidden = false;
    $("#pair-h").textContent = `${meta.labels[a]} and ${meta.labels[b]}`;
    repaint(); matrix(); disagreeTable();
    views.forEach((v) => v.resize()); drawAll(); describeMaps(); toHash();
    status(""); return true;
  }
  function describeMaps() {
    views.forEach((v, side) => {
      const m = mapsOf(v.space).find((o) => o.key === v.key);
      const by = state.colour === "agreement" ? `their agreement at n = ${state.n}` : state.colour === "none" ? "nothing" : state.colour;
      v.canvas.setAttribute("aria-label", `Map ${side + 1}: ${meta.labels[v.space]}, ${m ? m.label : ""}; ${N} tracks coloured by ${by}. The table "Tracks by agreement" lists them.`);
    });
  }
  views.forEach((v) => v.select.addEventListener("change", async () => {
    const m = mapsOf(v.space).find((o) => o.key === v.select.value);
    v.setMap(m.key, (await mapData(m.index)).coords); v.view = { x: 0, y: 0, s: 1 }; v.draw(); describeMaps(); toHash();
  }));
  function disagreeTable() {
    const body = $("#disagree tbody"); body.replaceChildren();
    const agree = agreement(); if (!agree) return;
    const sel = new Set(state.sel);
    let rows = [];
    for (let i = 0; i < N; i++) if (paint.active[i] === 1 && (!sel.size || sel.has(i))) rows.push(i);
    const sign = state.order === "asc" ? 1 : -1;
    rows.sort((p, q) => sign * (agree[p] - agree[q]) || (ids[p] < ids[q] ? -1 : ids[p] > ids[q] ? 1 : 0));
    const head = $("#disagree thead tr");
    head.replaceChildren(...["Track", `Agreement at n = ${state.n}`, ...meta.colour_columns, "Listen"].map((t) => { const th = document.createElement("th"); th.scope = "col"; th.textContent = t; return th; }));
    rows = rows.slice(0, 100);
    for (const i of rows) {
      const tr = body.insertRow(), t = tr.insertCell(), b = document.createElement("button");
      b.type = "button"; b.textContent = ids[i]; b.addEventListener("click", () => openTrack(i)); t.append(b);
      tr.dataset.track = ids[i];
      tr.insertCell().textContent = agree[i].toFixed(2);
      meta.colour_columns.forEach((c) => { tr.insertCell().textContent = meta.metadata[c][i]; });
      tr.insertCell().append(playButton(i));
    }
  }

  // ---- one track -----------------------------------------------------------------------------
  const spaceFiles = new Array(S).fill(null);
  function tracksNeighbours(s) {
    const f = spaceFiles[s]; if (state.track === null || !f) return [];
    return Array.from(f.indices.data.subarray(state.track * K, state.track * K + state.n));
  }
  async function openTrack(i) {
    state.track = i; status(`Loading the lists of ${ids[i]}…`);
    const files = await allSpaces(); files.forEach((f, s) => { spaceFiles[s] = f; });
    const n = state.n, c = CUT.indexOf(n), C = CUT.length;
    const lists = files.map((f) => Array.from(f.indices.data.subarray(i * K, i * K + n)));
    const proposed = new Map();
    lists.forEach((l) => l.forEach((j) => proposed.set(j, (proposed.get(j) || 0) + 1)));
    const head = $("#track-head"); head.replaceChildren();
    const strong = document.createElement("strong"); strong.textContent = ids[i]; head.append("Track ", strong, " ");
    for (const [col, vals] of Object.entries(meta.metadata)) head.append(`· ${col}: ${vals[i]} `);
    head.append(playButton(i));
    const ref = state.ref, ov = files[ref].overlap.data;
    const tab = $("#lists"); tab.replaceChildren();
    const cap = tab.createCaption(); cap.textContent = `Top-${n} of ${ids[i]} in every space; the badge says in how many of the ${S} spaces' top-${n} lists a neighbour is.`;
    const h1 = tab.createTHead().insertRow(), corner = document.createElement("th"); corner.scope = "col"; corner.textContent = "Rank"; h1.append(corner);
    files.forEach((f, s) => {
      const th = document.createElement("th"); th.scope = "col";
      const agreeRef = ov[(s * N + i) * C + c] / n, occ = f.occurrence.data[i];
      const name = document.createElement("div"); name.textContent = meta.labels[s];
      const ag = document.createElement("div"), oc = document.createElement("div"); ag.className = oc.className = "hint";
      ag.textContent = s === ref ? "the reference" : `S_${n} to the reference: ${agreeRef.toFixed(2)}`;
      oc.textContent = `hubness: in ${occ} top-${K} lists`;
      ag.dataset.agreement = agreeRef; oc.dataset.occurrence = occ;
      th.append(name, ag, oc); th.dataset.space = meta.spaces[s]; h1.append(th);
    });
    const body = tab.createTBody();
    for (let r = 0; r < n; r++) {
      const tr = body.insertRow(), th = document.createElement("th"); th.scope = "row"; th.textContent = String(r + 1); tr.append(th);
      lists.forEach((l, s) => {
        const j = l[r], td = tr.insertCell(), cell = document.createElement("div"); cell.className = "cell";
        const k = proposed.get(j), badge = document.createElement("span"), rgb = ramp((k - 1) / Math.max(1, S - 1));
        badge.className = "badge"; badge.textContent = `${k}/${S}`; badge.style.background = css(rgb); badge.style.color = textOn(rgb);
        badge.title = `${ids[j]} is in ${k} of the ${S} spaces' top-${n}`;
        const name = document.createElement("span"); name.textContent = ids[j]; name.className = "nb";
        td.dataset.track = ids[j]; td.dataset.count = k;
        cell.append(playButton(j), name, badge); td.append(cell);
      });
    }
    $("#track").hidden = false; drawAll(); toHash(); status("");
  }
  function search(q) {
    const ul = $("#search-results"); ul.replaceChildren(); q = q.trim().toLowerCase(); if (!q) return;
    const cols = Object.values(meta.metadata), hits = [];
    for (let i = 0; i < N && hits.length < 20; i++) if (ids[i].toLowerCase().includes(q) || cols.some((c) => String(c[i]).toLowerCase().includes(q))) hits.push(i);
    for (const i of hits) {
      const li = document.createElement("li"), b = document.createElement("button"); b.type = "button";
      b.textContent = [ids[i], ...Object.values(meta.metadata).map((c) => c[i])].join(" · ");
      b.addEventListener("click", () => openTrack(i)); li.append(b); ul.append(li);
    }
    if (!hits.length) { const li = document.createElement("li"); li.textContent = "No track matches."; ul.append(li); }
  }

  // ---- audio ---------------------------------------------------------------------------------
  const player = $("#player");
  function playButton(i) {
    const b = document.createElement("button"); b.type = "button"; b.className = "play";
    const src = meta.audio ? meta.audio[i] : null;
    b.textContent = "▶"; b.setAttribute("aria-label", `Play ${ids[i]}`);
    if (!src) { b.disabled = true; b.title = "no audio for this track"; return b; }
    b.dataset.track = ids[i];
    b.addEventListener("click", () => {
      if (player.dataset.track === ids[i] && !player.paused) { player.pause(); return; }
      player.src = src; player.dataset.track = ids[i];
      $("#now-playing").textContent = `Playing ${ids[i]}`;
      player.play().catch((e) => { $("#now-playing").textContent = `Cannot play ${ids[i]}: ${e.message}`; });
    });
    return b;
  }

  // ---- export --------------------------------------------------------------------------------
  function csvCell(v) { const s = String(v); return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }
  async function exportCsv() {
    const tracks = state.sel.length ? state.sel : state.track !== null ? [state.track] : [];
    if (!tracks.length) { status("Select tracks on a map, or open a track, to export its lists."); return null; }
    const files = await allSpaces(), n = state.n;
    const lines = ["track_id,space,rank,neighbor_id,distance,spaces_proposing"];
    for (const i of tracks) {
      const lists = files.map((f) => f.indices.data.subarray(i * K, i * K + n)), proposed = new Map();
      lists.forEach((l) => l.forEach((j) => proposed.set(j, (proposed.get(j) || 0) + 1)));
      files.forEach((f, s) => {
        for (let r = 0; r < n; r++) {
          const j = f.indices.data[i * K + r];
          lines.push([ids[i], meta.spaces[s], r + 1, ids[j], f.distances.data[i * K + r], proposed.get(j)].map(csvCell).join(","));
        }
      });
    }
    const text = lines.join("\n") + "\n", a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    a.download = `neighbours-${meta.distance}-n${n}.csv`; document.body.append(a); a.click(); a.remove();
    status(`Exported the lists of ${tracks.length} track(s).`);
    return text;
  }

  // ---- wiring --------------------------------------------------------------------------------
  function fillControls() {
    $("#cutoff").replaceChildren(...CUT.map((c) => new Option(String(c), String(c), false, c === state.n)));
    $("#measure").replaceChildren(new Option("S_n (the paper's)", "sn", false, state.measure === "sn"),
      ...MEASURES.map((x) => new Option(x.per_cutoff ? x.label : `${x.label} (whole spaces)`, x.key, false, x.key === state.measure)));
    $("#measure-p").hidden = !MEASURES.length;
    const opts = [new Option("agreement of the two spaces", "agreement"), ...meta.colour_columns.map((c) => new Option(c, c)), new Option("nothing", "none")];
    $("#colour").replaceChildren(...opts); $("#colour").value = state.colour;
    $("#reference").replaceChildren(...meta.labels.map((l, s) => new Option(l, String(s), false, s === state.ref)));
    $("#filter").value = String(state.filter); $("#filter-out").textContent = state.filter.toFixed(2);
    $("#order").value = state.order;
  }
  $("#measure").addEventListener("change", (e) => { state.measure = e.target.value; matrix(); toHash(); });
  $("#cutoff").addEventListener("change", (e) => { state.n = parseInt(e.target.value, 10); matrix(); repaint(); disagreeTable(); drawAll(); describeMaps(); if (state.track !== null) openTrack(state.track); toHash(); });
  $("#colour").addEventListener("change", (e) => { state.colour = e.target.value; repaint(); drawAll(); describeMaps(); toHash(); });
  $("#filter").addEventListener("input", (e) => { state.filter = parseFloat(e.target.value); $("#filter-out").textContent = state.filter.toFixed(2); repaint(); disagreeTable(); drawAll(); scheduleHash(); });
  $("#order").addEventListener("change", (e) => { state.order = e.target.value; disagreeTable(); toHash(); });
  $("#reference").addEventListener("change", (e) => { state.ref = parseInt(e.target.value, 10); if (state.track !== null) openTrack(state.track); toHash(); });
  $("#brush").addEventListener("click", (e) => { brushMode = !brushMode; e.target.setAttribute("aria-pressed", String(brushMode)); views.forEach((v) => v.canvas.classList.toggle("brushing", brushMode)); });
  $("#clear-selection").addEventListener("click", () => { setSelection([]); drawAll(); toHash(); });
  $("#search").addEventListener("input", (e) => search(e.target.value));
  $("#export-csv").addEventListener("click", exportCsv);
  $("#copy-link").addEventListener("click", () => { const l = $("#link"); l.select(); (navigator.clipboard ? navigator.clipboard.writeText(l.value) : Promise.reject(new Error("no clipboard"))).then(() => status("Link copied."), () => status("Select the link and copy it.")); });

  async function start() {
    fromHash(); fillControls(); matrix();
    if (state.a !== null) await openPair(state.a, state.b, state.ma, state.mb, true);
    if (state.sel.length) setSelection(state.sel);
    if (state.track !== null) await openTrack(state.track);
    drawAll(); toHash();
    return performance.now(); // ms since navigation started: when the first view was drawn
  }
  // the page's interface for tests and benchmarks (what it draws, and a way to drive it)
  const ready = start().catch((e) => { status("The explorer failed: " + e.message); throw e; });
  window.nnsimExplorer = {
    ready, state, views, exportCsv,
    colourValues: () => (paint.values ? Array.from(paint.values) : null),
    colours: () => Array.from(paint.colours),
    active: () => Array.from(paint.active),
    panBy: (side, dx, dy) => { views[side].panBy(dx, dy); views[side].draw(); },
    zoomBy: (side, f) => { const v = views[side]; v.zoomAt(v.canvas.width / 2, v.canvas.height / 2, f); v.draw(); },
    select: (sel) => { setSelection(sel); drawAll(); toHash(); },
    openTrack, openPair,
    renderer: RENDERER,
  };
})();
