// The dashboard: reads the admin API (/v1) every two seconds and draws it.
// Rates are the differences of successive polls; nothing is kept server-side.
"use strict";
const POLL_MS = 2000;
const SPARK_POINTS = 30;
const history = new Map(); // subscription name -> [{t, depth, count}]
let selected = null; // the error record being inspected

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");

async function api(path, options = {}) {
  const r = await fetch(path, { credentials: "same-origin", ...options });
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!r.ok) {
    const detail = body && body.detail ? body.detail : text;
    const err = new Error(`${r.status} ${path}: ${detail}`);
    err.status = r.status;
    throw err;
  }
  return body;
}

function age(ms) {
  if (ms == null) return "–";
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) return (ms / 60000).toFixed(1) + " min";
  return (ms / 3600000).toFixed(1) + " h";
}

function spark(values) {
  if (values.length < 2) return "";
  const max = Math.max(1, ...values);
  const w = 120, h = 24;
  const pts = values.map((v, i) => `${(i * w / (SPARK_POINTS - 1)).toFixed(1)},${(h - 1 - v / max * (h - 2)).toFixed(1)}`).join(" ");
  return `<svg class="spark" width="${w}" height="${h}" role="img" aria-label="throughput"><polyline points="${pts}"/></svg>`;
}

// What has arrived in a subscription so far: what waits plus what was
// acknowledged (the host's totals since start); without those totals, its depth,
// whose rises are at least what arrived.
function counted(sub) {
  return typeof sub.acknowledged === "number" ? sub.queue_depth + sub.acknowledged : null;
}

function drawModules(status) {
  const rows = status.modules.map((m) => {
    const swaps = (m.history || []).slice(-4).map((c) => `${esc(c.action)} ${esc((c.version || "").slice(0, 8))}`).join("<br>");
    return `<tr data-module="${esc(m.name)}"><td>${esc(m.name)}</td><td>${esc(m.kind)}</td><td><code>${esc((m.version || "").slice(0, 12))}</code></td>` +
      `<td class="state-${esc(m.state)}">${esc(m.state)}</td><td class="num">${m.queue_depth ?? 0}</td><td>${swaps}</td></tr>`;
  });
  $("modules").tBodies[0].innerHTML = rows.join("") || `<tr><td colspan="6">no modules</td></tr>`;
}

function drawSubscriptions(status, now) {
  const rows = status.subscriptions.map((s) => {
    const h = history.get(s.name) || [];
    h.push({ t: now, depth: s.queue_depth, count: counted(s) });
    while (h.length > SPARK_POINTS) h.shift();
    history.set(s.name, h);
    const rates = [];
    for (let i = 1; i < h.length; i++) {
      const dt = (h[i].t - h[i - 1].t) / 1000 || 1;
      const d = h[i].count != null && h[i - 1].count != null ? h[i].count - h[i - 1].count : Math.max(0, h[i].depth - h[i - 1].depth);
      rates.push(Math.max(0, d / dt));
    }
    const last = rates.length ? rates[rates.length - 1].toFixed(1) + "/s" : "";
    return `<tr data-subscription="${esc(s.name)}"><td>${esc(s.name)}</td><td class="num">${s.queue_depth}</td><td>${age(s.oldest_age_ms)}</td><td>${spark(rates)} ${last}</td></tr>`;
  });
  $("subscriptions").tBodies[0].innerHTML = rows.join("") || `<tr><td colspan="4">no subscriptions</td></tr>`;
}

function drawRefusals(status) {
  const items = [];
  for (const r of status.refused || []) items.push(`<li>${esc(r.at)} refused <code>${esc(r.file)}</code>: ${esc(r.reason)}</li>`);
  for (const m of status.modules) {
    for (const c of m.history || []) {
      if (c.action === "refused" || c.action === "rolled_back") {
        items.push(`<li>${esc(c.at)} ${esc(m.name)} ${esc(c.action.replace("_", " "))} <code>${esc((c.version || "").slice(0, 12))}</code>${c.detail ? ": " + esc(c.detail) : ""}</li>`);
      }
    }
  }
  $("refusals").innerHTML = items.join("") || "<li>none</li>";
}

let errors = [];
async function drawErrors() {
  errors = (await api("/v1/errors?status=failed&limit=200")).errors;
  const rows = errors.map((f, i) => `<tr data-error="${esc(f.module)}/${f.seq}"><td>${esc(f.module)}</td><td class="num">${f.seq}</td><td>${esc(f.record.topic)}</td>` +
    `<td>${esc(f.record.reason)}</td><td>${esc(f.record.status)}</td><td><button data-inspect="${i}">Inspect</button></td></tr>`);
  $("errors").tBodies[0].innerHTML = rows.join("") || `<tr><td colspan="6">the error queue is empty</td></tr>`;
}

function inspect(f) {
  selected = f;
  $("inspect").hidden = false;
  $("inspect-title").textContent = `${f.module} #${f.seq}: ${f.record.reason}`;
  $("inspect-event").textContent = JSON.stringify(f.record.event, null, 2);
  const data = f.record.event.data;
  $("edit-data").value = data === undefined ? "" : (typeof data === "string" ? data : JSON.stringify(data));
  $("replay-result").textContent = "";
}

async function replay() {
  if (!selected) return;
  const text = $("edit-data").value;
  let data;
  try { data = JSON.parse(text); } catch { data = text; }
  const body = { module: selected.module, seq: selected.seq, data };
  try {
    const report = await api("/v1/errors/replay", {
      method: "POST",
      headers: { "content-type": "application/json", ...csrfHeader() },
      body: JSON.stringify(body),
    });
    const n = report.replayed.length;
    $("replay-result").textContent = n ? `replayed ${n}` : `not replayed: ${JSON.stringify(report.refused)}`;
    await drawErrors();
  } catch (e) {
    $("replay-result").textContent = e.message;
  }
}

// Changes carry the session's CSRF token when the host has one for this page.
function csrfHeader() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? { "x-csrf-token": meta.content } : {};
}

async function drawCatalog() {
  try {
    const doc = await api("/v1/asyncapi.json");
    const channels = Object.entries(doc.channels || {}).map(([k, c]) => `<li><code>${esc(c.address || k)}</code></li>`);
    $("catalog").innerHTML = `<p>${esc(doc.info && doc.info.title)} (AsyncAPI ${esc(doc.asyncapi)})</p><ul>${channels.join("")}</ul>`;
  } catch (e) {
    $("catalog").textContent = e.status === 404 ? "this host serves no catalog (/v1/asyncapi.json)" : e.message;
  }
}

async function poll() {
  try {
    const status = await api("/v1/status");
    const now = Date.now();
    $("host").textContent = `${status.engine}, ${(status.disk_usage_bytes / 1048576).toFixed(1)} MiB on disk`;
    drawModules(status);
    drawSubscriptions(status, now);
    drawRefusals(status);
    await drawErrors();
    $("updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    $("problem").hidden = true;
  } catch (e) {
    $("problem").textContent = e.message;
    $("problem").hidden = false;
  }
}

$("errors").addEventListener("click", (ev) => {
  const i = ev.target.getAttribute && ev.target.getAttribute("data-inspect");
  if (i != null) inspect(errors[Number(i)]);
});
$("replay").addEventListener("click", replay);
$("close").addEventListener("click", () => { $("inspect").hidden = true; selected = null; });
poll();
drawCatalog();
setInterval(poll, POLL_MS);
