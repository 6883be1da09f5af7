"use strict";
// The console's Service status view: the readiness assessment and the service report of a
// tenant, from the console's JSON. Everything is put in with textContent, never as HTML.
(function () {
  const $ = (id) => document.getElementById(id);
  const ACTION_STATES = [["completed", "Completed"], ["pending", "Pending"], ["skipped", "Skipped"], ["failed", "Failed"]];

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function row(cells, header) {
    const tr = el("tr");
    cells.forEach((cell, i) => {
      const td = el(header && i === 0 ? "th" : "td");
      if (header && i === 0) td.scope = "row";
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell === null || cell === undefined ? "—" : String(cell);
      tr.append(td);
    });
    return tr;
  }

  function link(text, href) {
    const a = el("a", text);
    a.href = href;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    return a;
  }

  async function api(path) {
    const response = await fetch(path, { credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign("/console/sign-in");
      throw new Error("signed out");
    }
    return response;
  }

  function tenant() {
    return encodeURIComponent($("tenant").value);
  }

  function renderReadiness(r) {
    $("phase").textContent = r.phaseLabel || r.phase;
    $("assessed").textContent = r.assessedAt ? new Date(r.assessedAt).toLocaleString() : "Never";
    const assets = $("assets").tBodies[0];
    assets.replaceChildren();
    for (const [name, label] of [["devices", "Devices"], ["identities", "Identities"]]) {
      const f = r.protectedAssets[name];
      const todo = f.remaining ? link(f.whatToDo, f.url) : "Nothing to do";
      const protectedText = f.stale ? `${f.protected ?? "?"} (stale)` : f.protected;
      assets.append(row([label, protectedText, f.target, f.remaining, todo], true));
    }
    const c = r.counts;
    $("action-counts").textContent =
      `${c.completeNow} to complete now · ${c.inProgress} in progress · ${c.completed} completed`;
    const actions = $("actions").tBodies[0];
    actions.replaceChildren();
    for (const a of r.actions) {
      const details = [];
      if (a.markedBy && a.status === "inProgress") {
        details.push(`Marked by ${a.markedBy.name || "an administrator"}, ${new Date(a.markedBy.at).toLocaleString()}.`);
      }
      if (a.stale) details.push(`Stale: ${a.staleReason || "not read yet."}`);
      const title = link(a.title, a.howUrl);
      const status = el("span", a.statusLabel, `state-${a.status}`);
      const tr = row([title, a.why, status, details.join(" ")]);
      tr.dataset.action = a.id;
      actions.append(tr);
    }
    const stale = $("stale");
    stale.replaceChildren();
    if (!r.staleSignals.length) stale.append(el("li", "None: every signal was read on the last assessment."));
    for (const s of r.staleSignals) {
      const since = s.lastGood ? ` (last good value from ${new Date(s.lastGood).toLocaleString()})` : "";
      stale.append(el("li", `${s.signal}: ${s.reason || "not read yet"}${since}`));
    }
  }

  function minutes(value) {
    if (value === null || value === undefined) return "No resolved incidents";
    if (value < 60) return `${Math.round(value)} min`;
    const hours = value / 60;
    return hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} days`;
  }

  function breakdown(title, entries) {
    const box = el("section");
    box.append(el("h3", title));
    const table = el("table", undefined, "figures");
    const body = el("tbody");
    if (!entries.length) body.append(row(["None", ""]));
    for (const [k, n] of entries) body.append(row([k, n], true));
    table.append(body);
    box.append(table);
    return box;
  }

  function sorted(counts) {
    return Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  }

  function renderReport(r) {
    $("report-range").textContent = `${r.range.label}: ${r.range.start.slice(0, 10)} to ${r.range.end.slice(0, 10)}`;
    const body = $("report-figures").tBodies[0];
    body.replaceChildren(
      row(["Incidents investigated", r.incidentsInvestigated], true),
      row(["Incidents resolved", r.incidentsResolved], true),
      row(["Resolved directly by the experts", r.resolvedDirectly], true),
      row(["Resolved with your help", r.resolvedWithYourHelp], true),
      row(["% resolved", `${r.resolvedPercent}%`], true),
      row(["Average time to resolve", minutes(r.averageTimeToResolveMinutes)], true),
      row(["Experts' time", minutes(r.averageExpertsTimeMinutes)], true),
      row(["Your time", minutes(r.averageCustomerTimeMinutes)], true),
    );
    const boxes = $("breakdowns");
    boxes.replaceChildren(
      breakdown("By severity", sorted(r.bySeverity)),
      breakdown("By category", sorted(r.byCategory)),
      breakdown("By service source", sorted(r.byServiceSource)),
      breakdown("MITRE tactics", sorted(r.byMitreTactic)),
      breakdown("Most impacted devices", r.mostImpactedDevices.map((d) => [d.name, d.incidents])),
      breakdown("Most impacted users", r.mostImpactedUsers.map((u) => [u.name, u.incidents])),
      breakdown("Your actions", ACTION_STATES.map(([s, label]) => [label, r.customerActions[s] || 0])),
      breakdown("Trends (incidents per month)", r.trends.map((t) => [
        t.month,
        Object.values(t.bySeverity).reduce((a, b) => a + b, 0),
      ])),
    );
  }

  function rangeQuery() {
    const chosen = document.querySelector('input[name="days"]:checked').value;
    if (chosen !== "custom") return `days=${chosen}`;
    return `from=${encodeURIComponent($("from").value)}&to=${encodeURIComponent($("to").value)}`;
  }

  async function loadReport() {
    const error = $("range-error");
    const response = await api(`/console/api/tenants/${tenant()}/report?${rangeQuery()}`);
    const body = await response.json();
    if (!response.ok) {
      error.textContent = (body.error && body.error.message) || "That range can't be shown.";
      error.hidden = false;
      return;
    }
    error.hidden = true;
    renderReport(body);
  }

  async function load() {
    $("load-status").textContent = "Loading…";
    const response = await api(`/console/api/tenants/${tenant()}/readiness`);
    renderReadiness(await response.json());
    await loadReport();
    $("load-status").textContent = "Up to date";
  }

  async function start() {
    const me = await (await api("/console/api/me")).json();
    $("expert-name").textContent = me.expert.name;
    const list = await (await api("/console/api/tenants")).json();
    for (const t of list.tenants) $("tenant").append(el("option", t.id));
    $("tenant").addEventListener("change", load);
    $("range").addEventListener("submit", (e) => {
      e.preventDefault();
      loadReport();
    });
    for (const input of document.querySelectorAll('input[name="days"]')) {
      input.addEventListener("change", () => {
        if (input.value !== "custom") loadReport();
      });
    }
    await load();
  }

  start();
})();
