// The inspector's logic: runs → episodes → steps (cosine curves) → the evidence of a step; search; fork.
"use strict";
const token = new URLSearchParams(location.search).get("access_token");
const colors = { image: "#1f77b4", video: "#ff7f0e", audio: "#2ca02c", text: "#d62728" };
let episodeCursor = null, currentEpisode = null, currentStep = null;

async function api(path, options = {}) {
  const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

function enc(s) { return encodeURIComponent(s); }
function fixed(x) { return x === undefined || x === null ? "" : Number(x).toFixed(4); }

async function loadStore() {
  const stats = await api("/v1/store/stats");
  document.getElementById("store-line").textContent = `${stats.path} · ${stats.episodes} episodes · ${stats.steps} steps · ${stats.dim}-d`;
}

async function loadRuns() {
  const list = document.getElementById("runs");
  list.replaceChildren();
  const runs = await api("/v1/runs");
  if (runs.items.length === 0) list.append(el("li", { class: "muted" }, "no runs started by this server"));
  for (const run of runs.items) list.append(el("li", { "data-run": run.id }, `${run.id} ${run.kind} — ${run.status} (${run.trace_lines} lines)`));
}

async function loadEpisodes(reset) {
  const list = document.getElementById("episodes");
  if (reset) { list.replaceChildren(); episodeCursor = null; }
  const prefix = document.getElementById("episode-filter").value;
  let query = "/v1/episodes?limit=50";
  if (episodeCursor) query += "&cursor=" + enc(episodeCursor);
  if (prefix) query += "&prefix=" + enc(prefix);
  const page = await api(query);
  for (const e of page.items) {
    const item = el("li", { "data-episode": e.name }, `${e.name} `, el("span", { class: "muted" }, `(${e.step_count})`));
    item.addEventListener("click", () => selectEpisode(e.name, item));
    list.append(item);
  }
  episodeCursor = page.next_cursor || null;
  document.getElementById("more-episodes").hidden = !episodeCursor;
}

function select(list, item) {
  for (const other of list.querySelectorAll(".selected")) other.classList.remove("selected");
  item.classList.add("selected");
}

async function selectEpisode(name, item) {
  select(document.getElementById("episodes"), item);
  currentEpisode = name;
  document.getElementById("timeline-title").textContent = "Steps of " + name;
  const steps = [];
  let cursor = null;
  do {
    const page = await api(`/v1/episodes/${enc(name)}/steps?limit=500` + (cursor ? "&cursor=" + enc(cursor) : ""));
    steps.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && steps.length < 5000);
  const list = document.getElementById("steps");
  list.replaceChildren();
  for (const s of steps) {
    const cos = Object.entries(s.cosine).map(([m, c]) => `${m} ${c.toFixed(1)}`).join(" · ");
    const li = el("li", { "data-step": String(s.index) }, `#${s.index} ${s.action} `, el("span", { class: "muted" }, cos));
    li.addEventListener("click", () => selectStep(s.index, li));
    list.append(li);
  }
  drawCosines(steps);
}

function drawCosines(steps) {
  const svg = document.getElementById("cosine-chart");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const w = 420, h = 140, pad = 24;
  const values = steps.flatMap(s => Object.values(s.cosine));
  if (values.length === 0) { const t = document.createElementNS(ns, "text"); t.setAttribute("x", 10); t.setAttribute("y", 20); t.textContent = "no truth stored: no cosine"; svg.append(t); return; }
  const lo = Math.min(...values), hi = Math.max(...values), span = Math.max(hi - lo, 1e-6);
  const x = i => pad + (steps.length > 1 ? i * (w - 2 * pad) / (steps.length - 1) : (w - 2 * pad) / 2);
  const y = v => h - pad - (v - lo) * (h - 2 * pad) / span;
  let drawn = 0;
  for (const m of Object.keys(colors)) {
    const points = steps.map((s, i) => s.cosine[m] === undefined ? null : `${x(i)},${y(s.cosine[m])}`).filter(p => p);
    if (points.length === 0) continue;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colors[m]);
    line.setAttribute("data-modality", m);
    svg.append(line);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", w - 50); label.setAttribute("y", 12 + 12 * drawn++);
    label.setAttribute("style", "fill:" + colors[m]); label.textContent = m;
    svg.append(label);
  }
  for (const [v, label] of [[lo, lo.toFixed(1)], [hi, hi.toFixed(1)]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", 0); t.setAttribute("y", y(v) + 3); t.textContent = label; svg.append(t);
  }
}

// The ablation report (`worldgpt eval --ablation`), when the server's --reports folder holds one: mean cosine ×100
// per rollout step, one line per variant.
async function loadAblation() {
  let report;
  try { report = await api("/v1/reports/ablation"); } catch (e) { return; }  // no report: the section stays hidden
  const box = document.getElementById("ablation");
  const svg = document.getElementById("ablation-chart");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const w = 420, h = 200, pad = 24, legend = 110;
  const values = report.series.flatMap(s => s.mean.filter(v => v !== null));
  if (values.length === 0 || report.steps === 0) return;
  const lo = Math.min(...values), hi = Math.max(...values), span = Math.max(hi - lo, 1e-6);
  const x = step => pad + (report.steps > 1 ? (step - 1) * (w - legend - 2 * pad) / (report.steps - 1) : (w - legend - 2 * pad) / 2);
  const y = v => h - pad - (v - lo) * (h - 2 * pad) / span;
  const palette = ["#6b7585", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
  report.series.forEach((s, i) => {
    const color = palette[i % palette.length];
    const points = s.mean.map((v, k) => v === null ? null : `${x(k + 1)},${y(v)}`).filter(p => p);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", color);
    line.setAttribute("data-variant", s.variant);
    line.setAttribute("data-mean", s.mean.map(v => v === null ? "" : v.toFixed(4)).join(","));
    svg.append(line);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", w - legend + 6); label.setAttribute("y", 12 + 12 * i);
    label.setAttribute("style", "fill:" + color); label.setAttribute("class", "ablation-variant");
    label.textContent = s.variant;
    svg.append(label);
  });
  for (const [v, label] of [[lo, lo.toFixed(1)], [hi, hi.toFixed(1)]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", 0); t.setAttribute("y", y(v) + 3); t.textContent = label; svg.append(t);
  }
  const axis = document.createElementNS(ns, "text");
  axis.setAttribute("x", pad); axis.setAttribute("y", h - 6);
  axis.textContent = `rollout step 1–${report.steps} · cosine ×100, mean over ${report.modalities.join(", ")}`;
  svg.append(axis);
  document.getElementById("ablation-source").textContent = report.path;
  box.hidden = false;
}

function table(title, items, cls, withParts) {
  const box = el("div", { class: "evidence-group", "data-kind": title });
  box.append(el("h3", {}, `${title} (${items.length})`));
  if (items.length === 0) { box.append(el("div", { class: "muted" }, "none")); return box; }
  const head = el("tr", {}, el("th", {}, "#"), el("th", {}, "item"), el("th", {}, "score"), el("th", {}, "why"));
  if (withParts) head.append(el("th", {}, "state"), el("th", {}, "action"), el("th", {}, "recency"));
  const t = el("table", {}, head);
  for (const it of items) {
    const row = el("tr", { class: cls + " item", "data-item": it.item }, el("td", {}, String(it.rank)), el("td", {}, it.item), el("td", {}, fixed(it.score)), el("td", {}, it.reason || ""));
    if (withParts) row.append(el("td", {}, fixed(it.state_similarity)), el("td", {}, fixed(it.action_similarity)), el("td", {}, fixed(it.recency)));
    t.append(row);
  }
  box.append(t);
  return box;
}

async function selectStep(index, item) {
  select(document.getElementById("steps"), item);
  currentStep = index;
  const ev = await api(`/v1/episodes/${enc(currentEpisode)}/steps/${index}`);
  const panel = document.getElementById("evidence");
  panel.classList.remove("muted");
  const cos = Object.entries(ev.cosine).map(([m, c]) => `${m} ${c.toFixed(2)}`).join(", ") || "no truth stored";
  panel.replaceChildren(
    el("div", { id: "evidence-title" }, el("b", {}, `${ev.episode}:${ev.index}`), ` — ${ev.action}`),
    el("div", { class: "muted" }, `cosine ×100 to the truth: ${cos}`),
    table("recalled", ev.recalled, "recalled", true),
    table("retrieved", ev.retrieved, "retrieved", false),
    table("kept", ev.kept, "kept", false),
    table("dropped", ev.dropped, "dropped", false));
  document.getElementById("fork-form").hidden = false;
}

document.getElementById("more-episodes").addEventListener("click", () => loadEpisodes(false));
document.getElementById("episode-filter").addEventListener("change", () => loadEpisodes(true));
document.getElementById("search-form").addEventListener("submit", async event => {
  event.preventDefault();
  const q = document.getElementById("search-text").value.trim();
  const list = document.getElementById("search-results");
  list.replaceChildren();
  try {
    const body = /^.+:\d+$/.test(q) ? { like: q, k: 10 } : { text: q, k: 10 };
    const result = await api("/v1/search", { method: "POST", body: JSON.stringify(body) });
    for (const h of result.items) list.append(el("li", {}, `${h.episode}:${h.index} score ${fixed(h.score)}`));
  } catch (e) { list.append(el("li", { class: "dropped" }, e.message)); }
});
document.getElementById("fork-form").addEventListener("submit", async event => {
  event.preventDefault();
  const actions = document.getElementById("fork-actions").value.split("\n").map(s => s.trim()).filter(s => s);
  const status = document.getElementById("fork-status");
  try {
    const run = await api("/v1/runs", { method: "POST", body: JSON.stringify({ kind: "fork", from: `${currentEpisode}:${currentStep}`, actions }) });
    status.textContent = `started ${run.id}`;
    loadRuns();
  } catch (e) { status.textContent = e.message; }
});

loadStore().then(loadRuns).then(() => loadEpisodes(true)).then(loadAblation).catch(e => {
  document.getElementById("store-line").textContent = "error: " + e.message;
});
