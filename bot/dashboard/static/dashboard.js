// The monitoring dashboard: asks /dashboard/api/stats for the figures and draws them with plotly.js,
// each chart followed by a table of the same figures. Text from the server is put in the page as text,
// never as HTML; labels given to plotly have their markup characters escaped.
"use strict";

const TEAMS_JS = "https://res.cdn.office.net/teams-js/2.22.0/js/MicrosoftTeams.min.js";
const STAGE_COLOURS = ["#0e6e78", "#3e9bb0", "#7cc4cf", "#e0a458", "#c2553a", "#7b4b94", "#52606d"];
const OVERDUE = "#b42318";
const inTeams = new URLSearchParams(location.search).has("inTeams");
let token = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function label(text) {
  // plotly reads a few HTML tags in labels: show names exactly as written instead.
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function status(text, isError) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.hidden = !text;
  node.className = isError ? "notice" : "";
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = el("script", { src });
    script.onload = resolve;
    script.onerror = () => reject(new Error("could not load " + src));
    document.head.append(script);
  });
}

async function teamsToken() {
  if (!inTeams) return null;
  if (!window.microsoftTeams) await loadScript(TEAMS_JS);
  await window.microsoftTeams.app.initialize();
  return window.microsoftTeams.authentication.getAuthToken();
}

function query() {
  const params = new URLSearchParams();
  for (const id of ["partnership", "period", "since", "until"]) {
    const value = document.getElementById(id).value;
    if (value) params.set(id, value);
  }
  return params;
}

async function fetchFigures(params) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch("/dashboard/api/stats?" + params.toString(), { headers });
  let body = {};
  try { body = await response.json(); } catch (e) { body = {}; }
  if (!response.ok) {
    const words = {
      401: "Open this dashboard from its tab in Teams, signed in with your work account.",
      403: "This dashboard is for the partnership's business unit.",
    };
    throw new Error(words[response.status] || body.error || "The figures could not be loaded.");
  }
  return body;
}

function fillFilters(body) {
  const select = document.getElementById("partnership");
  const current = body.stats.partnership.id;
  select.replaceChildren(...body.partnerships.map(p => el("option", { value: p.id }, p.name)));
  select.value = current;
  select.closest("label").hidden = body.partnerships.length < 2;
  const period = document.getElementById("period");
  if (!period.options.length) {
    period.append(el("option", { value: "" }, "The dates given"));
    for (const p of body.presets) period.append(el("option", { value: p.value }, p.title));
    const asked = new URLSearchParams(location.search);
    period.value = asked.get("since") ? "" : (body.presets.some(p => p.value === asked.get("period")) ? asked.get("period") : body.defaultPreset);
  }
  document.getElementById("local-mode").hidden = !body.local;
  document.getElementById("filters").hidden = false;
}

function table(caption, head, rows, numeric) {
  if (!rows.length) return el("p", { class: "empty" }, "None in this period.");
  const t = el("table", {}, el("caption", {}, caption));
  t.append(el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: numeric(i) ? "n" : "" }, h)))));
  const body = el("tbody");
  for (const row of rows) body.append(el("tr", {}, ...row.map((v, i) => el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : { class: numeric(i) ? "n" : "" }, v === null ? "–" : v))));
  t.append(body);
  return el("div", { class: "scroll" }, t);
}

function put(id, node) { document.getElementById(id).replaceChildren(node); }

const LAYOUT = {
  margin: { l: 48, r: 12, t: 8, b: 40 },
  font: { family: "Segoe UI, system-ui, sans-serif", size: 12, color: "#1f2933" },
  paper_bgcolor: "#fff", plot_bgcolor: "#fff",
  legend: { orientation: "h", y: -0.2 },
  hovermode: "x unified",
};
const CONFIG = { displayModeBar: false, responsive: true };

const NOTHING = {
  xaxis: { visible: false }, yaxis: { visible: false }, height: 140, margin: { l: 0, r: 0, t: 0, b: 0 },
  annotations: [{ text: "None in this period", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
    font: { size: 14, color: "#52606d" } }],
};

function plot(id, traces, layout, empty) {
  const node = document.getElementById(id);
  node.classList.toggle("empty-chart", Boolean(empty));
  if (empty) {
    window.Plotly.react(node, [], Object.assign({}, LAYOUT, NOTHING), CONFIG);
    return;
  }
  window.Plotly.react(node, traces, Object.assign({}, LAYOUT, layout || {}), CONFIG);
}

function short(text, limit) {
  const value = String(text);
  return value.length > limit ? value.slice(0, limit - 1) + "…" : value;
}

function day(iso) {
  return new Date(iso + "T12:00:00Z").toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
}

function stageName(stats, n) {
  const stage = stats.stages.find(s => s.number === n);
  return stage ? n + ". " + stage.name : "Stage " + n;
}

function render(stats) {
  document.getElementById("title").textContent = stats.partnership.name;
  document.getElementById("period-text").textContent =
    "From " + day(stats.period.since) + " to " + day(stats.period.until) + "; open and overdue as at " +
    new Date(stats.asOf).toLocaleString("en-GB", { timeZone: "Europe/London", dateStyle: "medium", timeStyle: "short" }) + ".";
  // Shown before drawing, so plotly measures the width the charts really have.
  document.getElementById("content").hidden = false;
  const resolved = n => stats.ended.resolved[n] + stats.ended.closed[n];
  const totalEnded = key => Object.values(stats.ended[key]).reduce((a, b) => a + b, 0);
  const tiles = [
    ["Raised in the period", stats.raised],
    ["Open", stats.open.total],
    ["Overdue", stats.overdue.total, stats.overdue.total > 0],
    ["Resolved", totalEnded("resolved") + totalEnded("closed")],
    ["Withdrawn", totalEnded("withdrawn")],
    ["Median working days to resolution", stats.medianWorkingDaysToResolution === null ? "–" : stats.medianWorkingDaysToResolution],
    ["Stage 3 and beyond", stats.serious.length],
  ];
  document.getElementById("tiles").replaceChildren(
    ...tiles.map(([name, value, bad]) => el("div", { class: bad ? "bad" : "", "data-measure": name }, el("dt", {}, name), el("dd", {}, value))));

  const weeks = stats.weeks.map(w => w.starts);
  const numbers = stats.stages.map(s => s.number);
  const trend = numbers.map((n, i) => ({
    type: "bar", name: label(stageName(stats, n)), x: weeks, y: stats.weeks.map(w => w.openByStage[String(n)]),
    marker: { color: STAGE_COLOURS[i % STAGE_COLOURS.length] },
  }));
  trend.push({ type: "scatter", mode: "lines", name: "Overdue", x: weeks, y: stats.weeks.map(w => w.overdue),
    line: { color: OVERDUE, width: 3 } });
  plot("chart-trend", trend, { barmode: "stack", bargap: 0.15, yaxis: { title: { text: "challenges" }, rangemode: "tozero" } });
  put("table-trend", table("Open at the end of each week, by stage, and overdue",
    ["Week starting", ...numbers.map(n => "Stage " + n), "Overdue"],
    stats.weeks.map(w => [w.starts, ...numbers.map(n => w.openByStage[String(n)]), w.overdue]), i => i > 0));

  const names = numbers.map(n => "Stage " + n);
  const hover = numbers.map(n => label(stageName(stats, n)));
  plot("chart-stages", [
    { type: "bar", name: "Median working days in the stage", x: names, y: stats.stageTimes.map(t => t.medianWorkingDays), customdata: hover, hovertemplate: "%{customdata}: %{y}<extra></extra>", marker: { color: "#0e6e78" } },
    { type: "bar", name: "Median working days from raising to resolution, for those resolved at the stage", x: names, y: numbers.map(n => stats.resolutionByStage[String(n)]), customdata: hover, hovertemplate: "%{customdata}: %{y}<extra></extra>", marker: { color: "#e0a458" } },
  ], { barmode: "group", hovermode: "closest", yaxis: { title: { text: "working days" }, rangemode: "tozero" } },
  stats.stageTimes.every(t => t.count === 0));
  put("table-stages", table("Per stage, in the period", ["Stage", "Open", "Overdue", "Resolved", "Withdrawn", "Stages ended", "Median working days in stage", "Ended past due", "Median working days to resolution"],
    stats.stageTimes.map(t => [stageName(stats, t.stage), stats.open.byStage[String(t.stage)], stats.overdue.byStage[String(t.stage)], resolved(String(t.stage)), stats.ended.withdrawn[String(t.stage)], t.count, t.medianWorkingDays, t.pastDue, stats.resolutionByStage[String(t.stage)]]), i => i > 0));

  const bars = (id, rows, colour) => plot(id, [{ type: "bar", orientation: "h", x: rows.map(r => r.count).reverse(),
    y: rows.map(r => label(short(r.name, 34))).reverse(), customdata: rows.map(r => label(r.name)).reverse(),
    hovertemplate: "%{customdata}: %{x}<extra></extra>", marker: { color: colour } }],
    { hovermode: "closest", margin: { l: 12, r: 12, t: 8, b: 30 }, yaxis: { automargin: true }, height: Math.max(300, 26 * rows.length + 60) },
    rows.length === 0);
  bars("chart-agency", stats.byAgency, "#0e6e78");
  put("table-agency", table("Challenges raised in the period", ["Agency", "Challenges"], stats.byAgency.map(r => [r.name, r.count]), i => i > 0));
  bars("chart-category", stats.byCategory, "#3e9bb0");
  put("table-category", table("Challenges raised in the period", ["Issue category", "Challenges"], stats.byCategory.map(r => [r.name, r.count]), i => i > 0));

  const repeated = stats.repeated;
  plot("chart-repeated", repeated.length ? [{
    type: "heatmap", x: stats.months, y: repeated.map(r => label(short(r.agency, 34))), z: repeated.map(r => stats.months.map(m => r.byMonth[m])),
    colorscale: [[0, "#f0f7f8"], [1, "#0e6e78"]], hovertemplate: "%{y}<br>%{x}: %{z}<extra></extra>",
  }] : [], { hovermode: "closest", margin: { l: 12, r: 12, t: 8, b: 40 }, yaxis: { automargin: true, autorange: "reversed" }, height: Math.max(300, 30 * repeated.length + 80) },
  repeated.length === 0);
  put("table-repeated", table("Agencies challenged more than once in the period", ["Agency", "Challenges", ...stats.months],
    repeated.map(r => [r.agency, r.count, ...stats.months.map(m => r.byMonth[m])]), i => i > 0));
  put("table-serious", table("Challenges at Stage 3 or beyond during the period", ["Reference", "Status", "Stage now", "Highest stage", "Agency", "Issue category", "Raised"],
    stats.serious.map(m => [m.reference, m.status, m.stage, m.highestStage, m.agency, m.category, m.raisedOn]), i => i === 2 || i === 3));
  document.getElementById("content").hidden = false;
  document.body.dataset.rendered = "true";
}

async function refresh(params) {
  status("Loading the figures…");
  try {
    const body = await fetchFigures(params);
    fillFilters(body);
    render(body.stats);
    status("");
  } catch (error) {
    status(error.message, true);
    document.body.dataset.rendered = "error";
  }
}

async function start() {
  document.getElementById("filters").addEventListener("submit", event => {
    event.preventDefault();
    const params = query();
    if (params.get("since") || params.get("until")) params.delete("period");
    refresh(params);
  });
  document.getElementById("period").addEventListener("change", () => {
    document.getElementById("since").value = "";
    document.getElementById("until").value = "";
  });
  try {
    token = await teamsToken();
  } catch (error) {
    status("Teams did not give a sign-in token: " + (error.message || error), true);
    document.body.dataset.rendered = "error";
    return;
  }
  // A link may choose the partnership and period (?partnership=...&period=...).
  const initial = new URLSearchParams();
  for (const [key, value] of new URLSearchParams(location.search)) {
    if (["partnership", "period", "since", "until"].includes(key)) initial.set(key, value);
  }
  for (const key of ["since", "until"]) if (initial.get(key)) document.getElementById(key).value = initial.get(key);
  refresh(initial);
}

document.addEventListener("DOMContentLoaded", start);
