// The pages of the other blocks, one pattern: a list of what the API keeps, newest first where
// the API orders so, each row linking to its station; operators act where the API lets them
// (cancel a reservation or a rollout, acknowledge an alert, download the records as CSV).

import * as api from "./api.js";
import { h, clear, when, outcome, json, fillTable } from "./ui.js";

function station(id) {
  return id ? h("a", { href: `#/stations/${encodeURIComponent(id)}` }, id) : "";
}

/** A page listing ``path``'s ``key`` in a table of ``columns``; ``extra`` adds to the page. */
async function listPage(root, { title, path, key, columns, query, empty, id, before }) {
  const list = h("div", { id }, h("p", { class: "pending" }, "Loading…"));
  const result = h("div", { id: `${id}-result`, "aria-live": "polite" });
  clear(root, h("h1", null, title), before || null, result, list);
  const load = () =>
    fillTable(list, () => api.get(path, { pageSize: 200, ...(query || {}) }), key, columns(load, result), { empty });
  await load();
}

function action(label, call, load, result, { danger = false, confirmText } = {}) {
  return h(
    "button",
    {
      type: "button",
      class: danger ? "danger" : null,
      onclick: async () => {
        if (confirmText && !confirm(confirmText)) return;
        if (await outcome(result, call())) await load();
      },
    },
    label
  );
}

export async function sitesPage(root) {
  await listPage(root, {
    title: "Sites",
    path: "/v1/sites",
    key: "sites",
    id: "sites",
    empty: "No site. POST /v1/sites makes one (README: Sites and the load manager).",
    columns: () => [
      ["Site", (s) => s.name || s.id],
      ["Limit", (s) => `${s.limit} ${s.chargingRateUnit || ""}`],
      ["Allocated", (s) => `${(s.allocated || 0).toFixed(1)} ${s.chargingRateUnit || ""}`],
      ["Strategy", (s) => s.strategy || ""],
      ["EVSEs", (s) => (s.evses || []).length],
      [
        "Allocations",
        (s) =>
          (s.allocations || []).length
            ? h("details", null, h("summary", null, `${s.allocations.length} transactions`), json(s.allocations))
            : "",
      ],
    ],
  });
}

export async function reservationsPage(root, { role }) {
  await listPage(root, {
    title: "Reservations",
    path: "/v1/reservations",
    key: "reservations",
    id: "reservations",
    empty: "No reservation.",
    columns: (load, result) => [
      ["Id", (r) => r.id],
      ["Station", (r) => station(r.stationId)],
      ["EVSE", (r) => r.evseId ?? ""],
      ["Id token", (r) => r.idToken?.idToken || ""],
      ["Expires", (r) => when(r.expiryDateTime)],
      ["State", (r) => r.state],
      [
        "",
        (r) =>
          role === "operator" && r.state === "Accepted"
            ? action("Cancel", () => api.post(`/v1/reservations/${r.id}:cancel`, {}), load, result)
            : "",
      ],
    ],
  });
}

export async function tariffsPage(root) {
  await listPage(root, {
    title: "Tariffs",
    path: "/v1/tariffs",
    key: "tariffs",
    id: "tariffs",
    empty: "No tariff.",
    columns: () => [
      ["Tariff", (t) => t.name || t.id],
      ["Currency", (t) => t.currency],
      ["Per kWh", (t) => t.pricePerKwh || ""],
      ["Per hour", (t) => t.pricePerHour || ""],
      ["Session fee", (t) => t.sessionFee || ""],
      ["VAT %", (t) => t.vatPercent || ""],
      ["Default", (t) => (t.isDefault ? "yes" : "")],
      ["Stations", (t) => (t.stationIds || []).join(", ")],
    ],
  });
}

async function downloadCsv(result) {
  const current = api.session();
  const resp = await fetch("/v1/chargeDetailRecords:csv", { headers: { authorization: `Bearer ${current.key}` } });
  if (!resp.ok) {
    clear(result, h("p", { class: "error", role: "alert" }, `Error ${resp.status}`));
    return;
  }
  const url = URL.createObjectURL(await resp.blob());
  const link = h("a", { href: url, download: "charge-detail-records.csv" }, "charge-detail-records.csv");
  clear(result, h("p", { class: "ok" }, "Ready: ", link));
  link.click();
}

export async function recordsPage(root) {
  const result = h("div");
  const csv = h("p", null, h("button", { type: "button", id: "csv", onclick: () => downloadCsv(result) }, "Download as CSV"), result);
  await listPage(root, {
    title: "Charge detail records",
    path: "/v1/chargeDetailRecords",
    key: "chargeDetailRecords",
    id: "records",
    before: csv,
    empty: "No record: one is made when a transaction ends.",
    columns: () => [
      ["Station", (r) => station(r.stationId)],
      ["Transaction", (r) => h("a", { href: `#/transactions/${encodeURIComponent(r.transactionId)}?station=${encodeURIComponent(r.stationId)}` }, r.transactionId)],
      ["Id token", (r) => r.idToken || ""],
      ["Start", (r) => when(r.startTime)],
      ["End", (r) => when(r.endTime)],
      ["Energy (Wh)", (r) => r.energyWh || ""],
      ["Total", (r) => (r.total ? `${r.total} ${r.currency || ""}` : "")],
    ],
  });
}

export async function firmwarePage(root, { role }) {
  const rollouts = h("section", { id: "rollouts-section" });
  await listPage(root, {
    title: "Firmware",
    path: "/v1/firmwareImages",
    key: "images",
    id: "images",
    empty: "No hosted image. POST /v1/firmwareImages, then PUT its content (README: Firmware and logs).",
    columns: () => [
      ["Image", (i) => i.name || i.id],
      ["Version", (i) => i.version || ""],
      ["State", (i) => i.state],
      ["Size", (i) => i.size || ""],
      ["SHA-256", (i) => h("code", null, i.sha256 || "")],
      ["Uploaded", (i) => when(i.uploadTime)],
    ],
  });
  root.append(rollouts);
  await listPage(rollouts, {
    title: "Rollouts",
    path: "/v1/firmwareRollouts",
    key: "rollouts",
    id: "rollouts",
    empty: "No rollout.",
    columns: (load, result) => [
      ["Rollout", (r) => h("code", null, r.id)],
      ["Image", (r) => r.imageId],
      ["Stations", (r) => (r.stationIds || []).length],
      ["Wave size", (r) => r.waveSize],
      ["State", (r) => r.state],
      ["Halted because", (r) => r.haltReason || ""],
      ["Created", (r) => when(r.createTime)],
      [
        "",
        (r) =>
          role === "operator" && ["running", "halted"].includes(r.state)
            ? action("Cancel", () => api.post(`/v1/firmwareRollouts/${encodeURIComponent(r.id)}:cancel`, {}), load, result, { danger: true, confirmText: "Cancel this rollout?" })
            : "",
      ],
    ],
  });
  // The second list's heading is a section's, not the page's.
  const heading = rollouts.querySelector("h1");
  if (heading) heading.replaceWith(h("h2", null, heading.textContent));
}

export async function alertsPage(root, { role }) {
  await listPage(root, {
    title: "Alerts",
    path: "/v1/alerts",
    key: "alerts",
    id: "alerts",
    empty: "No alert.",
    columns: (load, result) => [
      ["Time", (a) => when(a.timestamp)],
      ["Station", (a) => station(a.stationId)],
      ["Severity", (a) => a.severity],
      ["Component", (a) => a.component],
      ["Variable", (a) => a.variable],
      ["Value", (a) => a.actualValue],
      ["Trigger", (a) => a.trigger],
      [
        "",
        (a) =>
          a.acknowledged
            ? "acknowledged"
            : role === "operator"
              ? action("Acknowledge", () => api.post(`/v1/alerts/${a.id}:acknowledge`, {}), load, result)
              : "",
      ],
    ],
  });
}
