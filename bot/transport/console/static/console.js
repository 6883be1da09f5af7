"use strict";
// The expert console: conversations, one transcript, compose, live events over a WebSocket.
// Everything from customers is put in with textContent, never as HTML.
(function () {
  const state = {
    csrf: "",
    lastEventId: 0,
    conversations: new Map(),
    current: null,
    messages: new Map(),
    retry: 0,
  };
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function when(seconds) {
    return new Date(seconds * 1000).toLocaleString();
  }

  async function api(path, options) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = state.csrf;
    const response = await fetch(path, init);
    if (response.status === 401) {
      window.location.assign("/console/sign-in");
      throw new Error("signed out");
    }
    return response;
  }

  // ---- conversations ----------------------------------------------------------------------

  function describe(c) {
    if (c.kind === "incident") {
      return [c.title, [c.severity, c.status].filter(Boolean).join(", ")].join(" · ");
    }
    return c.title || "General";
  }

  function renderList() {
    const list = $("conversation-list");
    const tenant = $("tenant-filter").value;
    const waitingOnly = $("waiting-filter").checked;
    const items = Array.from(state.conversations.values())
      .filter((c) => (!tenant || c.tenantId === tenant) && (!waitingOnly || c.waiting))
      .sort((a, b) => b.lastAt - a.lastAt);
    list.replaceChildren();
    for (const c of items) {
      const item = el("li");
      const button = el("button");
      button.type = "button";
      button.dataset.id = c.id;
      if (state.current === c.id) button.setAttribute("aria-current", "true");
      const title = el("span", "title", describe(c));
      if (c.unread) title.append(el("span", "badge", c.unread + " unread"));
      if (c.waiting) title.append(el("span", "badge", "Waiting"));
      button.append(
        title,
        el("span", "meta", c.tenantName + " · " + when(c.lastAt)),
        el("span", "last", c.lastText),
      );
      button.addEventListener("click", () => open(c.id));
      item.append(button);
      list.append(item);
    }
    $("no-conversations").hidden = items.length > 0;
    const select = $("tenant-filter");
    const known = new Set(Array.from(select.options).map((o) => o.value));
    for (const c of state.conversations.values()) {
      if (!known.has(c.tenantId)) {
        const option = el("option", "", c.tenantName || c.tenantId);
        option.value = c.tenantId;
        select.append(option);
        known.add(c.tenantId);
      }
    }
  }

  async function loadConversations() {
    const response = await api("/console/api/conversations");
    const body = await response.json();
    for (const c of body.conversations) state.conversations.set(c.id, c);
    renderList();
  }

  // ---- one conversation -------------------------------------------------------------------

  function deliveryText(m) {
    if (m.role === "customer") return "";
    if (m.delivery === "sending") return "Sending…";
    if (m.delivery === "posted") return "Posted in Teams";
    if (m.delivery === "failed") return "Failed: " + (m.deliveryError || "Teams refused it");
    return "";
  }

  function renderMessage(m) {
    const item = el("li", "message " + m.role);
    item.id = "message-" + m.id;
    item.dataset.id = m.id;
    const head = el("p", "head");
    const role = m.role === "customer" ? "Customer" : m.role === "expert" ? "Expert" : "Automated";
    head.append(el("span", "author", m.author.name), document.createTextNode(" · " + role + " · " + when(m.at)));
    if (m.editedAt && !m.deletedAt) head.append(document.createTextNode(" · edited"));
    item.append(head);
    if (m.deletedAt) {
      item.append(el("p", "text deleted", "This message was deleted."));
    } else {
      item.append(el("p", "text", m.text));
    }
    if (m.attachments.length && !m.deletedAt) {
      const names = m.attachments.map((a) => a.name).join(", ");
      item.append(el("p", "attachments", "Sent an attachment you can't view: " + names));
    }
    const delivery = deliveryText(m);
    if (delivery) {
      const line = el("p", "state " + m.delivery, delivery);
      line.dataset.delivery = m.delivery;
      item.append(line);
    }
    return item;
  }

  function upsertMessage(m) {
    if (m.conversationId !== state.current) return;
    state.messages.set(m.id, m);
    const node = renderMessage(m);
    const existing = document.getElementById("message-" + m.id);
    if (existing) existing.replaceWith(node);
    else $("transcript").append(node);
  }

  function renderIncident(incident) {
    const box = $("incident");
    if (!incident) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const parts = ["Incident " + incident.incidentId, incident.severity, incident.status];
    if (incident.acknowledgedBy) parts.push("acknowledged by " + incident.acknowledgedBy);
    $("incident-line").textContent = parts.filter(Boolean).join(" · ");
    $("incident-summary").textContent = incident.summary;
    const list = $("pending-actions");
    list.replaceChildren();
    for (const a of incident.pendingActions) {
      const answered = a.state === "pending" ? "not answered yet" : a.state + " by " + a.by;
      list.append(el("li", "", a.label + " on " + a.target + ": " + answered));
    }
    if (!incident.pendingActions.length) list.append(el("li", "", "None"));
  }

  async function open(id) {
    state.current = id;
    state.messages.clear();
    const response = await api("/console/api/conversations/" + encodeURIComponent(id));
    if (!response.ok) return;
    const body = await response.json();
    state.conversations.set(id, body.conversation);
    $("conversation-title").textContent = describe(body.conversation) + " — " + body.conversation.tenantName;
    renderIncident(body.incident);
    $("transcript").replaceChildren();
    for (const m of body.messages) upsertMessage(m);
    $("compose").hidden = false;
    renderList();
    await api("/console/api/conversations/" + encodeURIComponent(id) + "/read", { method: "POST" });
  }

  async function send(event) {
    event.preventDefault();
    const box = $("answer");
    const status = $("compose-status");
    if (!state.current) return;
    status.textContent = "Sending…";
    const response = await api("/console/api/conversations/" + encodeURIComponent(state.current) + "/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: box.value }),
    });
    const body = await response.json();
    if (response.status === 202) {
      box.value = "";
      status.textContent = "Saved; posting in Teams.";
      upsertMessage(body.message);
    } else {
      status.textContent = body.error ? body.error.message : "The answer wasn't sent.";
    }
    box.focus();
  }

  // ---- live -------------------------------------------------------------------------------

  function apply(event) {
    if (event.type === "ready") {
      $("connection").textContent = "Live";
      document.body.dataset.live = "true";
      return;
    }
    if (event.id) {
      state.lastEventId = Math.max(state.lastEventId, event.id);
      document.body.dataset.lastEventId = String(state.lastEventId);
    }
    if (event.conversation) {
      state.conversations.set(event.conversation.id, event.conversation);
      renderList();
    }
    if (event.message) upsertMessage(event.message);
    if (event.type === "incident.action" && event.conversationId === state.current) {
      $("transcript").append(el("li", "event", actionText(event.action) + " · " + when(event.at)));
      refreshIncident(event.conversationId);
    }
  }

  function actionText(action) {
    if (action.type === "incident.acknowledged") return action.by + " acknowledged the incident";
    if (action.type === "pendingAction.completed") return action.by + " completed a pending action";
    if (action.type === "pendingAction.skipped") return action.by + " skipped a pending action";
    return action.by + " acted on the incident's card";
  }

  async function refreshIncident(id) {
    const response = await api("/console/api/conversations/" + encodeURIComponent(id) + "?after=999999999999");
    if (!response.ok || state.current !== id) return;
    const body = await response.json();
    renderIncident(body.incident);
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/console/ws?after=" + state.lastEventId);
    socket.addEventListener("message", (m) => {
      state.retry = 0;
      apply(JSON.parse(m.data));
    });
    socket.addEventListener("close", () => {
      document.body.dataset.live = "false";
      $("connection").textContent = "Reconnecting…";
      state.retry = Math.min(state.retry + 1, 6);
      window.setTimeout(connect, 250 * Math.pow(2, state.retry));
    });
  }

  async function signOut() {
    await api("/console/auth/sign-out", { method: "POST" });
    window.location.assign("/console/sign-in");
  }

  async function start() {
    const response = await api("/console/api/me");
    const me = await response.json();
    state.csrf = me.csrf;
    $("expert-name").textContent = me.expert.name;
    $("sign-out").addEventListener("click", signOut);
    $("compose").addEventListener("submit", send);
    $("answer").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e);
    });
    $("tenant-filter").addEventListener("change", renderList);
    $("waiting-filter").addEventListener("change", renderList);
    const events = await api("/console/api/conversations");
    const body = await events.json();
    for (const c of body.conversations) state.conversations.set(c.id, c);
    state.lastEventId = body.lastEventId;
    renderList();
    connect();
  }

  start();
})();
