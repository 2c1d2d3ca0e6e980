// The stations: the list (search, status filter, live status of the rows shown) and a
// station's page (identity, connection, EVSEs live, commands, device model, transactions,
// security events, message log).

import * as api from "./api.js";
import { onLeave } from "./app.js";
import { h, clear, when, statusBadge, table, json, outcome, field, errorBox } from "./ui.js";

const STATUSES = ["", "connected", "offline", "faulted"];

function stationLink(id) {
  return h("a", { href: `#/stations/${encodeURIComponent(id)}` }, id);
}

export async function stationsPage(root, { query }) {
  const q = query.get("q") || "";
  const status = query.get("status") || "";
  const token = query.get("page") || "";
  const search = h("input", { type: "search", id: "search", name: "q", value: q, placeholder: "CS1…" });
  const select = h(
    "select",
    { id: "status-filter", name: "status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s || "any"))
  );
  const form = h(
    "form",
    { class: "filters", role: "search" },
    field("Station id contains", search),
    field("Status", select),
    h("button", { type: "submit" }, "Filter")
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (search.value.trim()) params.set("q", search.value.trim());
    if (select.value) params.set("status", select.value);
    location.hash = `#/stations${params.size ? `?${params}` : ""}`;
  });
  const results = h("div", { id: "stations" }, h("p", { class: "pending" }, "Loading…"));
  clear(root, h("h1", null, "Stations"), form, results);
  let page;
  try {
    page = await api.get("/v1/chargingStations", { idContains: q, status, pageToken: token, pageSize: 50 });
  } catch (err) {
    clear(results, errorBox(err));
    return;
  }
  const stations = page.chargingStations || [];
  const cells = new Map();
  const rows = table(
    [
      ["Station", (s) => stationLink(s.id)],
      [
        "Status",
        (s) => {
          // Filled in by the fleet watch's first update (device_svc's words for it).
          const cell = h("span", null, "…");
          cells.set(s.id, cell);
          return cell;
        },
      ],
      ["Vendor", (s) => s.vendorName || ""],
      ["Model", (s) => s.model || ""],
      ["Firmware", (s) => s.firmwareVersion || ""],
      ["Last heartbeat", (s) => when(s.lastHeartbeatAt)],
    ],
    stations,
    { empty: "No station matches.", rowAttrs: (s) => ({ dataset: { station: s.id } }) }
  );
  const more = page.nextPageToken
    ? h(
        "p",
        null,
        h(
          "a",
          { href: `#/stations?${new URLSearchParams({ q, status, page: page.nextPageToken })}` },
          "Next page →"
        )
      )
    : null;
  clear(results, rows, more);
  if (stations.length) {
    const stop = api.watchFleet(
      stations.map((s) => s.id),
      (update) => {
        for (const state of update.stations || []) {
          const cell = cells.get(state.id);
          if (cell) clear(cell, statusBadge(state.status));
        }
      }
    );
    onLeave(stop);
  }
}

// -- one station --------------------------------------------------------------------------------

const TABS = [
  ["overview", "Overview"],
  ["commands", "Commands"],
  ["variables", "Device model"],
  ["transactions", "Transactions"],
  ["security", "Security events"],
  ["messages", "Message log"],
];

export async function stationPage(root, { params, query, role }) {
  const [id] = params;
  const tab = TABS.some(([t]) => t === query.get("tab")) ? query.get("tab") : "overview";
  const station = await api.get(`/v1/chargingStations/${encodeURIComponent(id)}`);
  const badge = h("span", { id: "station-status" }, "…"); // the fleet watch fills it in
  const nav = h(
    "nav",
    { class: "tabs", "aria-label": "Station" },
    TABS.map(([t, label]) =>
      h("a", { href: `#/stations/${encodeURIComponent(id)}?tab=${t}`, "aria-current": t === tab ? "page" : null }, label)
    )
  );
  const body = h("section", { id: `tab-${tab}` });
  clear(root, h("p", null, h("a", { href: "#/stations" }, "← Stations")), h("h1", null, `${id} `, badge), nav, body);
  const evses = h("div", { id: "evses" });
  const connection = h("dl", { class: "facts", id: "connection" });
  const showConnection = (connected, lastHeartbeatAt) =>
    clear(
      connection,
      facts([
        ["Connected", connected ? "yes" : "no"],
        ["Last heartbeat", when(lastHeartbeatAt)],
        ["Gateway", connected ? station.gateway : ""],
        ["Last boot", when(station.lastBootAt)],
        ["Boot reason", station.bootReason],
      ])
    );
  const stop = api.watchFleet([id], (update) => {
    for (const state of update.stations || []) {
      if (state.id !== id) continue;
      clear(badge, statusBadge(state.status));
      renderEvses(evses, state.evses || []);
      showConnection(state.connected, state.lastHeartbeatAt);
    }
  });
  onLeave(stop);
  if (tab === "overview") {
    renderEvses(evses, station.evses || []);
    showConnection(station.connected, station.lastHeartbeatAt);
    clear(
      body,
      h("h2", null, "Identity"),
      h(
        "dl",
        { class: "facts" },
        facts([
          ["Vendor", station.vendorName],
          ["Model", station.model],
          ["Serial number", station.serialNumber],
          ["Firmware", station.firmwareVersion],
          ["Protocol", station.protocol],
          ["Registration", station.registrationStatus],
          ["Security profile", station.securityProfile],
          ["Created", when(station.createTime)],
        ])
      ),
      h("h2", null, "Connection"),
      connection,
      h("h2", null, "EVSEs and connectors"),
      evses
    );
  } else if (tab === "commands") {
    commands(body, id, role);
  } else if (tab === "variables") {
    await variables(body, id);
  } else if (tab === "transactions") {
    const page = await api.get("/v1/transactions", { stationId: id, pageSize: 100 });
    clear(body, h("h2", null, "Transactions"), transactionsTable(page.transactions || []));
  } else if (tab === "security") {
    const page = await api.get(`/v1/chargingStations/${encodeURIComponent(id)}/securityEvents`, { pageSize: 100 });
    clear(
      body,
      h("h2", null, "Security events"),
      table(
        [
          ["Time", (e) => when(e.timestamp)],
          ["Type", (e) => e.type],
          ["Details", (e) => e.techInfo || ""],
        ],
        page.securityEvents || [],
        { empty: "No security event." }
      )
    );
  } else if (tab === "messages") {
    await messages(body, id, query);
  }
}

function facts(pairs) {
  return pairs
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [h("dt", null, k), h("dd", null, String(v))]);
}

function renderEvses(target, evses) {
  const rows = [];
  for (const evse of evses) for (const c of evse.connectors || []) rows.push({ evse: evse.id, ...c });
  clear(
    target,
    table(
      [
        ["EVSE", (r) => r.evse],
        ["Connector", (r) => r.id],
        ["Status", (r) => h("span", { class: `badge connector-${r.status}`, dataset: { connector: `${r.evse}/${r.id}` } }, r.status)],
        ["Since", (r) => when(r.statusTime)],
      ],
      rows,
      { empty: "No StatusNotification yet." }
    )
  );
}

export function transactionsTable(transactions) {
  return table(
    [
      ["Transaction", (t) => h("a", { href: `#/transactions/${encodeURIComponent(t.id)}?station=${encodeURIComponent(t.stationId)}` }, t.id)],
      ["Station", (t) => stationLink(t.stationId)],
      ["EVSE", (t) => t.evseId || ""],
      ["State", (t) => (t.active ? "active" : "ended")],
      ["Protocol", (t) => t.protocol || ""],
      ["Charging state", (t) => t.chargingState || ""],
      ["Id token", (t) => t.idToken || ""],
      ["Started", (t) => when(t.startedAt)],
      ["Ended", (t) => when(t.endedAt)],
      ["Energy (kWh)", (t) => ((t.energyWh || 0) / 1000).toFixed(2)],
    ],
    transactions,
    { empty: "No transaction." }
  );
}

// -- commands -----------------------------------------------------------------------------------

// Each command's body is the OCPP 2.0.1 request payload, as the specification writes it; the
// answer shown is the station's own response payload.
const COMMANDS = [
  ["reset", "Reset", { type: "Immediate" }],
  ["changeAvailability", "Change availability", { operationalStatus: "Inoperative", evse: { id: 1 } }],
  ["unlockConnector", "Unlock connector", { evseId: 1, connectorId: 1 }],
  ["triggerMessage", "Trigger message", { requestedMessage: "StatusNotification", evse: { id: 1, connectorId: 1 } }],
  [
    "requestStartTransaction",
    "Remote start",
    () => ({ idToken: { idToken: "", type: "ISO14443" }, remoteStartId: Math.floor(Math.random() * 1e9), evseId: 1 }),
  ],
  ["requestStopTransaction", "Remote stop", { transactionId: "" }],
  [
    "getVariables",
    "Get variables",
    { getVariableData: [{ component: { name: "OCPPCommCtrlr" }, variable: { name: "HeartbeatInterval" } }] },
  ],
  [
    "setVariables",
    "Set variables",
    { setVariableData: [{ component: { name: "OCPPCommCtrlr" }, variable: { name: "HeartbeatInterval" }, attributeValue: "300" }] },
  ],
];

function commands(body, id, role) {
  if (role !== "operator") {
    clear(body, h("h2", null, "Commands"), h("p", { class: "help" }, "A reader key cannot send commands: sign in with an operator key."));
    return;
  }
  const select = h("select", { id: "command" }, COMMANDS.map(([name, label]) => h("option", { value: name }, label)));
  const payload = h("textarea", { id: "payload", rows: 10, spellcheck: "false" });
  const result = h("div", { id: "command-result", "aria-live": "polite" });
  const fill = () => {
    const [, , template] = COMMANDS.find(([name]) => name === select.value);
    payload.value = JSON.stringify(typeof template === "function" ? template() : template, null, 2);
  };
  select.addEventListener("change", fill);
  fill();
  const form = h(
    "form",
    { class: "command", id: "command-form" },
    field("Command", select),
    field("Request (the OCPP 2.0.1 payload)", payload),
    h("button", { type: "submit", id: "send" }, "Send to the station")
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(payload.value);
    } catch (err) {
      clear(result, h("p", { class: "error", role: "alert" }, `The request is not JSON: ${err.message}`));
      return;
    }
    outcome(result, api.post(`/v1/chargingStations/${encodeURIComponent(id)}:${select.value}`, parsed));
  });
  clear(body, h("h2", null, "Commands"), form, result);
}

// -- device model -------------------------------------------------------------------------------

async function variables(body, id) {
  const page = await api.get(`/v1/chargingStations/${encodeURIComponent(id)}/variables`, { pageSize: 500 });
  const list = page.variables || [];
  const note =
    list.length === 0
      ? h("p", { class: "help" }, "Nothing known yet: the device model fills in from the station's reports (GetBaseReport) and from GetVariables answers.")
      : null;
  clear(
    body,
    h("h2", null, "Device model"),
    note,
    list.length
      ? table(
          [
            ["Component", (v) => [v.component?.name, v.component?.instance, v.component?.evse?.id].filter(Boolean).join(" / ")],
            ["Variable", (v) => [v.variable?.name, v.variable?.instance].filter(Boolean).join(" / ")],
            [
              "Value",
              (v) => (v.attributes || v.variableAttribute || []).map((a) => `${a.type || "Actual"}: ${a.value ?? ""}`).join("; "),
            ],
          ],
          list
        )
      : null
  );
}

// -- message log --------------------------------------------------------------------------------

async function messages(body, id, query) {
  const action = query.get("action") || "";
  const input = h("input", { id: "message-action", name: "action", value: action, placeholder: "e.g. StatusNotification" });
  const form = h("form", { class: "filters" }, field("Action", input), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ tab: "messages" });
    if (input.value.trim()) params.set("action", input.value.trim());
    location.hash = `#/stations/${encodeURIComponent(id)}?${params}`;
  });
  const target = h("div", { id: "messages" });
  clear(body, h("h2", null, "Message log"), form, target);
  let page;
  try {
    page = await api.get(`/v1/chargingStations/${encodeURIComponent(id)}/messages`, { action, pageSize: 200 });
  } catch (err) {
    clear(target, errorBox(err));
    return;
  }
  const list = page.messages || [];
  clear(
    target,
    list.length === 0
      ? h("p", { class: "help" }, "No frame recorded. The message log records only while it is on (CSMS_MESSAGE_LOG).")
      : table(
          [
            ["Time", (m) => when(m.time)],
            ["Direction", (m) => (m.direction === "in" ? "station → CSMS" : "CSMS → station")],
            ["Type", (m) => m.type],
            ["Action", (m) => m.action],
            ["Message id", (m) => h("code", null, m.messageId)],
            ["Payload", (m) => h("details", null, h("summary", null, "show"), json(m.payload))],
          ],
          list,
          { rowAttrs: (m) => ({ class: `frame-${m.type}` }) }
        )
  );
}
