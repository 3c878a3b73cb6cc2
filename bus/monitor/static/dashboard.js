// OPD Bus operators' dashboard: draws /api/state, then redraws on every server-sent event.
// Plain JavaScript, no build step; every text goes through textContent (never innerHTML).
"use strict";

const STATUS_COLOUR = {
  OK: "#1f9d55", WARNING: "#d69e2e", STALL: "#dd6b20", STOP: "#c53030",
  REWIND: "#805ad5", ERROR: "#742a2a", UNKNOWN: "#4a5568",
};
const SVG = "http://www.w3.org/2000/svg";
const NODE_RADIUS = 16;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function seconds(value) {
  if (value < 60) return `${value.toFixed(1)} s`;
  if (value < 3600) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

function sparkline(history, status) {
  const width = 140, height = 28, pad = 2;
  const box = svg("svg", { class: "spark", viewBox: `0 0 ${width} ${height}` });
  if (history.length < 2) return box;
  const lags = history.map(([, lag]) => lag);
  const max = Math.max(1, ...lags);
  const step = (width - 2 * pad) / (history.length - 1);
  const points = lags.map((lag, i) =>
    `${(pad + i * step).toFixed(1)},${(height - pad - (lag / max) * (height - 2 * pad)).toFixed(1)}`);
  const colour = STATUS_COLOUR[status] || "#4a5568";
  box.append(svg("polygon", {
    class: "area", fill: colour,
    points: `${pad},${height - pad} ${points.join(" ")} ${width - pad},${height - pad}`,
  }));
  box.append(svg("polyline", { points: points.join(" "), stroke: colour }));
  return box;
}

function renderTiles(state) {
  const groups = state.groups;
  const lag = groups.reduce((sum, g) => sum + g.lag, 0);
  const age = groups.reduce((most, g) => Math.max(most, g.lag_seconds), 0);
  const problems = groups.filter((g) => g.status !== "OK").length;
  const dlq = state.dead_letters.topics.reduce((sum, t) => sum + t.messages, 0);
  document.getElementById("tile-groups").textContent = groups.length;
  document.getElementById("tile-lag").textContent = lag.toLocaleString();
  document.getElementById("tile-age").textContent = seconds(age);
  document.getElementById("tile-problems").textContent = problems;
  document.getElementById("tile-problems").parentElement.classList.toggle("bad", problems > 0);
  document.getElementById("tile-dlq").textContent = dlq;
  document.getElementById("tile-dlq").parentElement.classList.toggle("bad", dlq > 0);
}

function renderGroups(groups) {
  const body = document.querySelector("#groups tbody");
  body.replaceChildren(...groups.map((g) => {
    const members = g.members.length
      ? g.members.map((m) => {
        const who = m.client_id || m.host || "member";
        return m.partitions ? `${who} (${m.partitions} partitions)` : who;
      }).join(", ")
      : "none";
    return el("tr", { "data-group": g.group, "data-status": g.status, class: `status-${g.status}` },
      el("td", { class: "mono" }, g.group),
      el("td", {}, g.opd || "—"),
      el("td", {}, el("span", { class: `badge ${g.status} status` }, g.status)),
      el("td", { class: "num lag" }, g.lag.toLocaleString()),
      el("td", { class: "num" }, seconds(g.lag_seconds)),
      el("td", {}, sparkline(g.history, g.status)),
      el("td", {}, members),
      el("td", {}, ...g.topics.map((t) => el("span", { class: "chip" }, t)),
        g.error ? el("span", { class: "error" }, g.error) : ""),
    );
  }));
  document.getElementById("groups-empty").hidden = groups.length > 0;
}

function renderDeadLetters(deadLetters) {
  const topics = document.querySelector("#dlq-topics tbody");
  topics.replaceChildren(...deadLetters.topics.map((t) =>
    el("tr", { "data-dlq-group": t.group },
      el("td", { class: "mono" }, t.group), el("td", { class: "mono" }, t.topic),
      el("td", { class: "num" }, t.messages))));
  document.getElementById("dlq-empty").hidden = deadLetters.topics.some((t) => t.messages > 0);
  const recent = document.querySelector("#dlq-recent tbody");
  recent.replaceChildren(...deadLetters.recent.map((d) =>
    el("tr", {},
      el("td", { class: "mono", title: d.event_type }, d.event_id.slice(0, 8)),
      el("td", { class: "mono" }, d.group),
      el("td", { title: d.error_message }, d.error_class),
      el("td", { class: "num" }, d.attempts),
      el("td", {}, d.last_failure_at.replace("T", " ").slice(0, 19)))));
}

function renderSharing(catalog) {
  const map = document.getElementById("sharing-map");
  const opds = [...new Set(catalog.systems.map((s) => s.opd))].sort();
  const cx = 260, cy = 200, radius = 165;
  const where = {};
  opds.forEach((opd, i) => {
    const angle = (2 * Math.PI * i) / opds.length - Math.PI / 2;
    where[opd] = [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)];
  });
  const defs = svg("defs");
  const marker = svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
  });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#81a4b0" }));
  defs.append(marker);
  const parts = [defs];
  for (const link of catalog.sharing) {
    const [x1, y1] = where[link.from], [x2, y2] = where[link.to];
    const dx = x2 - x1, dy = y2 - y1, length = Math.hypot(dx, dy) || 1;
    const nodeRadius = NODE_RADIUS;
    const sx = x1 + (dx / length) * nodeRadius, sy = y1 + (dy / length) * nodeRadius;
    const ex = x2 - (dx / length) * (nodeRadius + 2), ey = y2 - (dy / length) * (nodeRadius + 2);
    // Bend each arrow a little so A→B and B→A do not overlap.
    const mx = (sx + ex) / 2 - (dy / length) * 18, my = (sy + ey) / 2 + (dx / length) * 18;
    const path = svg("path", { class: "link", d: `M ${sx} ${sy} Q ${mx} ${my} ${ex} ${ey}` });
    const title = svg("title");
    title.textContent = `${link.from} → ${link.to}: ${link.event_types.join(", ")}`;
    path.append(title);
    const label = svg("text", { class: "link-label", x: mx, y: my });
    label.textContent = link.event_types.join(", ");
    parts.push(path, label);
  }
  for (const opd of opds) {
    const [x, y] = where[opd];
    const node = svg("g", { class: "node", "data-opd": opd });
    node.append(svg("circle", { cx: x, cy: y, r: NODE_RADIUS }));
    const text = svg("text", { x, y: y + NODE_RADIUS + 14 });
    text.textContent = opd;
    node.append(text);
    parts.push(node);
  }
  map.replaceChildren(...parts);
}

function renderCatalog(catalog) {
  const body = document.querySelector("#catalog tbody");
  body.replaceChildren(...catalog.event_types.map((et) =>
    el("tr", {},
      el("td", { class: "mono" }, et.type),
      el("td", { class: "mono" }, et.topic),
      el("td", {}, `${et.owner} (${et.owner_opd})`),
      el("td", { class: "num" }, et.version),
      el("td", {}, ...(et.subscribers.length
        ? et.subscribers.map((s) => el("span", { class: "chip" }, s))
        : ["—"])))));
}

let catalogDrawn = false;

function render(state) {
  renderTiles(state);
  renderGroups(state.groups);
  renderDeadLetters(state.dead_letters);
  if (!catalogDrawn) {
    renderSharing(state.catalog);
    renderCatalog(state.catalog);
    catalogDrawn = true;
  }
  const takenAt = document.getElementById("taken-at");
  takenAt.textContent = state.taken_at ? new Date(state.taken_at * 1000).toLocaleTimeString() : "—";
  takenAt.dataset.sequence = state.sequence;
  const error = document.getElementById("scan-error");
  error.hidden = !state.error;
  error.textContent = state.error ? `Last scan failed: ${state.error}` : "";
}

function connect() {
  const dot = document.getElementById("connection");
  const text = document.getElementById("connection-text");
  const source = new EventSource("/api/events");
  source.addEventListener("state", (event) => render(JSON.parse(event.data)));
  source.onopen = () => { dot.className = "dot online"; text.textContent = "live"; };
  source.onerror = () => { dot.className = "dot offline"; text.textContent = "reconnecting…"; };
}

fetch("/api/state").then((response) => response.json()).then(render).finally(connect);
