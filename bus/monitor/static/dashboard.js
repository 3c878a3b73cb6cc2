// OPD Bus operators' dashboard: draws /api/state, then redraws on every server-sent event.
// Plain JavaScript, no build step; every text goes through textContent (never innerHTML).
"use strict";

const STATUS_COLOUR = {
  OK: "#1f9d55", WARNING: "#d69e2e", STALL: "#dd6b20", STOP: "#c53030",
  REWIND: "#805ad5", ERROR: "#742a2a", UNKNOWN: "#4a5568",
};
const ENDPOINT_STATE = {
  closed: "delivering", open: "circuit open", half_open: "probing", disabled: "disabled (410)",
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

function $(id) { return document.getElementById(id); }

function seconds(value) {
  if (value < 60) return `${value.toFixed(1)} s`;
  if (value < 3600) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

function perMinute(perSecond) {
  return perSecond === null || perSecond === undefined ? "—" : (perSecond * 60).toFixed(1);
}

function ago(epochSeconds) {
  if (!epochSeconds) return "never";
  return `${seconds(Math.max(0, Date.now() / 1000 - epochSeconds))} ago`;
}

// Every time on the page is UTC, and says so.
function when(iso) {
  return iso ? `${new Date(iso).toISOString().replace("T", " ").slice(0, 19)} UTC` : "—";
}

// An empty state: show `message` in place of an empty table (and hide the table's header).
function emptyState(tableId, emptyId, isEmpty, message) {
  const table = tableId ? $(tableId) : null;
  if (table) table.hidden = isEmpty;
  const empty = $(emptyId);
  empty.hidden = !isEmpty;
  if (message !== undefined) empty.textContent = message;
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
  $("tile-groups").textContent = groups.length;
  $("tile-lag").textContent = lag.toLocaleString();
  $("tile-age").textContent = seconds(age);
  $("tile-problems").textContent = problems;
  $("tile-problems").parentElement.classList.toggle("bad", problems > 0);
  $("tile-dlq").textContent = dlq;
  $("tile-dlq").parentElement.classList.toggle("bad", dlq > 0);
  const rows = state.throughput.event_types;
  const published = rows.reduce((sum, r) => sum + r.published.events, 0);
  $("tile-published").textContent = state.taken_at ? published.toLocaleString() : "—";
}

function member(m) {
  return el("div", { class: "member", "data-member-id": m.member_id },
    el("span", { class: "mono member-id" }, m.member_id),
    el("span", { class: "member-where" },
      `${m.client_id || "no client id"} on ${m.host || "host not reported"}`,
      m.partitions ? ` · ${m.partitions} partition${m.partitions === 1 ? "" : "s"}` : ""));
}

function renderGroups(groups) {
  const body = document.querySelector("#groups tbody");
  body.replaceChildren(...groups.map((g) =>
    el("tr", { "data-group": g.group, "data-status": g.status, class: `status-${g.status}` },
      el("td", { class: "mono" }, g.group),
      el("td", {}, g.opd || "—"),
      el("td", {}, el("span", { class: `badge ${g.status} status` }, g.status)),
      el("td", { class: "num lag" }, g.lag.toLocaleString()),
      el("td", { class: "num" }, seconds(g.lag_seconds)),
      el("td", {}, sparkline(g.history, g.status)),
      el("td", { class: "members" }, ...(g.members.length
        ? g.members.map(member) : [el("span", { class: "muted" }, "no live member")])),
      el("td", {}, ...g.topics.map((t) => el("span", { class: "chip" }, t)),
        g.error ? el("span", { class: "error" }, g.error) : ""),
    )));
  emptyState("groups", "groups-empty", groups.length === 0);
}

function renderDeadLetters(deadLetters, viewer) {
  const topics = document.querySelector("#dlq-topics tbody");
  const withLetters = deadLetters.topics.filter((t) => t.messages > 0);
  topics.replaceChildren(...withLetters.map((t) =>
    el("tr", { "data-dlq-group": t.group },
      el("td", { class: "mono" }, t.group), el("td", { class: "mono" }, t.topic),
      el("td", { class: "num" }, t.messages),
      el("td", {}, el("button", { type: "button", "data-show-group": t.group }, "Show")))));
  for (const button of topics.querySelectorAll("button[data-show-group]")) {
    button.addEventListener("click", () => showGroupLetters(button.dataset.showGroup));
  }
  emptyState("dlq-topics", "dlq-empty", withLetters.length === 0);
  const recent = document.querySelector("#dlq-recent tbody");
  recent.replaceChildren(...deadLetters.recent.map((d) =>
    el("tr", { "data-position": d.position },
      el("td", { class: "mono id", title: d.event_type }, d.event_id),
      el("td", { class: "mono" }, d.group),
      el("td", {}, d.error_class || "—"),
      el("td", { class: "num" }, d.attempts),
      el("td", { class: "when" }, when(d.last_failure_at)))));
  emptyState("dlq-recent", "dlq-recent-empty", deadLetters.recent.length === 0);
  const hint = $("replay-hint");
  hint.hidden = viewer.can_replay;
  hint.textContent = viewer.replay_hint || "";
}

function renderReplays(replays) {
  const body = document.querySelector("#replays tbody");
  const rows = replays || [];
  body.replaceChildren(...rows.map((r) =>
    el("tr", {},
      el("td", {}, when(r.replayed_at)), el("td", { class: "who" }, r.operator),
      el("td", { class: "mono" }, r.group), el("td", { class: "num" }, r.positions.length),
      el("td", { class: "mono" }, r.target_topic))));
  emptyState("replays", "replays-empty", rows.length === 0, replays === null
    ? "Replays are recorded in the bus database; set BUS_DATABASE_DSN to keep and show them."
    : "No replay yet.");
}

// Dead letters of one group, chosen for replay -----------------------------------------------

let shownGroup = null;
let currentViewer = { can_replay: false, replay_hint: null, operator: null };

// A JSON answer, or a problem document made from the status when the body is not JSON.
async function answerOf(response) {
  try {
    return await response.json();
  } catch {
    return { detail: `the monitor answered ${response.status}` };
  }
}

async function showGroupLetters(group) {
  shownGroup = group;
  const response = await fetch(`/api/dead-letters/${encodeURIComponent(group)}`);
  const listing = await answerOf(response);
  if (!response.ok) {
    showResult(false, `The dead letters of ${group} could not be listed: ${listing.detail}`);
    return;
  }
  $("group-letters-name").textContent = group;
  const body = document.querySelector("#group-letters-table tbody");
  body.replaceChildren(...listing.dead_letters.map((d) => {
    const box = el("input", { type: "checkbox", value: d.position, "aria-label": `choose ${d.event_id}` });
    if (!currentViewer.can_replay) box.disabled = true;
    box.addEventListener("change", countSelected);
    const one = el("button", { type: "button", class: "replay-one" }, "Replay");
    one.disabled = !currentViewer.can_replay;
    one.addEventListener("click", () => confirmReplay(group, [d.position]));
    const replayed = d.replayed
      ? el("span", { class: "replayed", title: when(d.replayed.replayed_at) },
        `by ${d.replayed.operator}, ${when(d.replayed.replayed_at).slice(11)}`)
      : el("span", { class: "muted" }, "not yet");
    return el("tr", { "data-position": d.position },
      el("td", {}, box), el("td", { class: "mono id" }, d.event_id),
      el("td", { class: "mono" }, d.event_type), el("td", {}, d.error_class),
      el("td", { class: "num" }, d.attempts), el("td", { class: "when" }, when(d.last_failure_at)),
      el("td", {}, replayed), el("td", {}, one));
  }));
  emptyState("group-letters-table", "group-letters-empty", listing.dead_letters.length === 0);
  $("select-all").disabled = !currentViewer.can_replay;
  $("group-letters").hidden = false;
  countSelected();
}

function selectedPositions() {
  return [...document.querySelectorAll("#group-letters-table input:checked")].map((box) => box.value);
}

function countSelected() {
  const chosen = selectedPositions().length;
  const button = $("replay-selected");
  button.textContent = `Replay selected (${chosen})`;
  button.disabled = chosen === 0 || !currentViewer.can_replay;
}

function confirmReplay(group, positions) {
  const n = positions.length;
  $("replay-question").textContent =
    `Replay ${n} dead letter${n === 1 ? "" : "s"} of ${group} to bus.retry.${group}.1?`;
  $("replay-result").hidden = true;  // the answer to an earlier replay, not to this one
  const dialog = $("replay-dialog");
  dialog.returnValue = "";
  dialog.onclose = () => { if (dialog.returnValue === "confirm") replay(group, positions); };
  dialog.showModal();
}

function showResult(ok, text) {
  const result = $("replay-result");
  result.hidden = false;
  result.classList.toggle("failed", !ok);
  result.textContent = text;
}

async function replay(group, positions) {
  const response = await fetch("/api/dead-letters/replay", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ group, positions }),
  });
  const answer = await answerOf(response);
  showResult(response.ok, response.ok
    ? `${answer.replayed} dead letter${answer.replayed === 1 ? "" : "s"} of ${group} replayed to ${answer.target}, recorded as ${answer.audit.operator} at ${when(answer.audit.replayed_at)}.`
    : `Nothing replayed: ${answer.detail}`);
  if (response.ok) {
    latestReplays = [answer.audit, ...(latestReplays || [])];
    renderReplays(latestReplays);
    if (shownGroup === group) showGroupLetters(group);
  }
}

$("select-all").addEventListener("click", () => {
  for (const box of document.querySelectorAll("#group-letters-table input")) box.checked = true;
  countSelected();
});
$("replay-selected").addEventListener("click", () => confirmReplay(shownGroup, selectedPositions()));
$("close-letters").addEventListener("click", () => { $("group-letters").hidden = true; shownGroup = null; });

// Rates, publishers, ingress, webhooks -----------------------------------------------------------

function renderThroughput(throughput) {
  const body = document.querySelector("#throughput tbody");
  body.replaceChildren(...throughput.event_types.map((r) =>
    el("tr", { "data-event-type": r.type },
      el("td", { class: "mono" }, r.type),
      el("td", {}, r.owner),
      el("td", { class: "num published" }, r.published.events),
      el("td", { class: "num" }, perMinute(r.published.per_s)),
      el("td", {}, ...(r.consumed.length
        ? r.consumed.map((c) => el("span", { class: "chip consumer", "data-consumer": c.group },
          `${c.group}: ${c.events} (${perMinute(c.per_s)}/min)`))
        : [el("span", { class: "muted" }, "no consumer has committed")])))));
  emptyState("throughput", "throughput-empty", throughput.event_types.length === 0);
}

function renderPublishers(publishers) {
  const body = document.querySelector("#publishers tbody");
  body.replaceChildren(...publishers.map((p) => {
    const rate = p.error_rate === null ? "—" : `${(p.error_rate * 100).toFixed(0)} %`;
    return el("tr", { "data-system": p.system, class: p.error_rate ? "refusing" : "" },
      el("td", { class: "mono" }, p.system),
      el("td", {}, p.opd),
      el("td", { class: "last-event" }, ago(p.last_event_at)),
      el("td", { class: "num published" }, p.published),
      el("td", { class: "num refused" }, p.ingress_refused),
      el("td", { class: "num error-rate" }, rate));
  }));
  emptyState("publishers", "publishers-empty", publishers.length === 0);
}

function renderIngress(ingress) {
  const box = $("ingress-classes");
  const unreachable = $("ingress-unreachable");
  if (ingress === null) {
    box.replaceChildren();
    unreachable.replaceChildren();
    emptyState(null, "ingress-empty", true,
      "No ingress to read: set BUS_MONITOR_INGRESS_URLS to the ingress base URLs.");
    return;
  }
  const classes = ingress.by_class;
  const total = Object.values(classes).reduce((a, b) => a + b, 0);
  box.replaceChildren(...["2xx", "4xx", "5xx"].map((name) =>
    el("div", { class: `class c${name}`, "data-class": name },
      el("span", { class: "value" }, classes[name] || 0), el("span", { class: "label" }, name))));
  unreachable.replaceChildren(...ingress.unreachable.map((u) =>
    el("li", {}, el("span", { class: "mono" }, u.url), ` cannot be read (${u.error_class})`)));
  emptyState(null, "ingress-empty", total === 0,
    `No answers in the last 5 minutes from ${ingress.sources.length} ingress process${ingress.sources.length === 1 ? "" : "es"}.`);
}

function renderWebhooks(webhooks) {
  const body = document.querySelector("#webhooks tbody");
  const rows = webhooks || [];
  body.replaceChildren(...rows.map((w) =>
    el("tr", { "data-endpoint": w.endpoint, "data-state": w.state },
      el("td", { class: "mono" }, w.endpoint), el("td", { class: "mono" }, w.group),
      el("td", {}, el("span", { class: `badge endpoint ${w.state}` }, ENDPOINT_STATE[w.state] || w.state)),
      el("td", { class: "num" }, w.consecutive_failures),
      el("td", { class: "num" }, w.last_status ?? "—"),
      el("td", {}, w.last_error_class || "—"),
      el("td", {}, when(w.last_success_at)))));
  emptyState("webhooks", "webhooks-empty", rows.length === 0, webhooks === null
    ? "Endpoint states live in the bus database; set BUS_DATABASE_DSN to show them."
    : "No webhook endpoints: no subscription delivers by webhook yet.");
}

// The sharing map --------------------------------------------------------------------------------

function overlaps(a, b, margin = 2) {
  return a.x < b.x + b.width + margin && b.x < a.x + a.width + margin
    && a.y < b.y + b.height + margin && b.y < a.y + a.height + margin;
}

// Labels go where they touch no other label and no node: for each edge, candidate spots along
// its curve and beside it are tried in order, and the first free one is kept.
function placeLabels(labels, nodeBoxes) {
  const placed = [];
  const spots = [];
  for (const t of [0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78]) {
    for (const shift of [0, 11, -11, 22, -22]) spots.push([t, shift]);
  }
  for (const { text, curve } of labels) {
    let best = null;
    for (const [t, shift] of spots) {
      const [x, y, nx, ny] = curve(t);
      text.setAttribute("x", (x + nx * shift).toFixed(1));
      text.setAttribute("y", (y + ny * shift + 3).toFixed(1));
      const box = text.getBBox();
      const clashes = [...placed, ...nodeBoxes].filter((other) => overlaps(box, other)).length;
      if (best === null || clashes < best.clashes) best = { clashes, x: text.getAttribute("x"), y: text.getAttribute("y"), box };
      if (clashes === 0) break;
    }
    text.setAttribute("x", best.x);
    text.setAttribute("y", best.y);
    placed.push(best.box);
  }
}

function renderSharing(catalog) {
  const map = $("sharing-map");
  const opds = [...new Set(catalog.systems.map((s) => s.opd))].sort();
  const cx = 280, cy = 225, radius = 180;
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
  const edges = [], labels = [], nodes = [];
  for (const link of catalog.sharing) {
    const [x1, y1] = where[link.from], [x2, y2] = where[link.to];
    const dx = x2 - x1, dy = y2 - y1, length = Math.hypot(dx, dy) || 1;
    const ux = dx / length, uy = dy / length;
    const sx = x1 + ux * NODE_RADIUS, sy = y1 + uy * NODE_RADIUS;
    const ex = x2 - ux * (NODE_RADIUS + 2), ey = y2 - uy * (NODE_RADIUS + 2);
    // Bend each arrow a little so A→B and B→A do not overlap.
    const mx = (sx + ex) / 2 - uy * 18, my = (sy + ey) / 2 + ux * 18;
    const path = svg("path", { class: "link", d: `M ${sx} ${sy} Q ${mx} ${my} ${ex} ${ey}` });
    const title = svg("title");
    title.textContent = `${link.from} → ${link.to}: ${link.event_types.join(", ")}`;
    path.append(title);
    edges.push(path);
    const text = svg("text", { class: "link-label", "data-link": `${link.from}→${link.to}` });
    text.textContent = link.event_types.join(", ");
    const curve = (t) => {
      const x = (1 - t) ** 2 * sx + 2 * (1 - t) * t * mx + t ** 2 * ex;
      const y = (1 - t) ** 2 * sy + 2 * (1 - t) * t * my + t ** 2 * ey;
      return [x, y, -uy, ux];
    };
    labels.push({ text, curve });
  }
  const nodeBoxes = [];
  for (const opd of opds) {
    const [x, y] = where[opd];
    const node = svg("g", { class: "node", "data-opd": opd });
    node.append(svg("circle", { cx: x, cy: y, r: NODE_RADIUS }));
    const text = svg("text", { x, y: y + NODE_RADIUS + 14 });
    text.textContent = opd;
    node.append(text);
    nodes.push(node);
  }
  map.replaceChildren(defs, ...edges, ...nodes, ...labels.map((l) => l.text));
  for (const node of nodes) nodeBoxes.push(node.getBBox());
  placeLabels(labels, nodeBoxes);
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

// Drawing and the live connection ----------------------------------------------------------------

let catalogDrawn = false;
let latestReplays = null;

function setConnection(kind, text) {
  $("connection").className = `dot ${kind}`;
  $("connection-text").textContent = text;
}

function render(state) {
  currentViewer = state.viewer;
  $("operator").textContent = state.viewer.operator ? `signed in as ${state.viewer.operator}` : "not signed in";
  renderTiles(state);
  renderGroups(state.groups);
  renderDeadLetters(state.dead_letters, state.viewer);
  latestReplays = state.replays;
  renderReplays(state.replays);
  renderThroughput(state.throughput);
  renderPublishers(state.publishers);
  renderIngress(state.ingress);
  renderWebhooks(state.webhooks);
  if (!catalogDrawn) {
    renderSharing(state.catalog);
    renderCatalog(state.catalog);
    catalogDrawn = true;
  }
  const takenAt = $("taken-at");
  takenAt.textContent = state.taken_at
    ? `${new Date(state.taken_at * 1000).toISOString().slice(11, 19)} UTC` : "waiting for the first scan";
  takenAt.dataset.sequence = state.sequence;
  const error = $("scan-error");
  error.hidden = !state.error;
  error.textContent = state.error ? `The last scan failed (${state.error}); showing the scan before it.` : "";
  const database = $("database-error");
  database.hidden = !state.database_error;
  database.textContent = state.database_error ? `The bus database could not be read (${state.database_error}).` : "";
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("state", (event) => {
    render(JSON.parse(event.data));
    setConnection("online", "live");
  });
  source.onopen = () => setConnection("online", "live");
  source.onerror = () => setConnection("offline", source.readyState === EventSource.CLOSED
    ? "live updates stopped: reload the page" : "reconnecting…");
}

// The first picture comes from /api/state, so the page is never left on "connecting…": it says
// "connected" (or why not) at once, and "live" when the event stream is open.
fetch("/api/state")
  .then((response) => {
    if (!response.ok) throw new Error(`the monitor answered ${response.status}`);
    return response.json();
  })
  .then((state) => { render(state); setConnection("online", "connected"); })
  .catch((error) => setConnection("offline", `cannot load the state: ${error.message}`))
  .finally(connect);
