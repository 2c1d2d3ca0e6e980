// Transactions: the list (by station, active or ended) and one transaction's page, with its
// energy and power over time drawn from its meter values.

import * as api from "./api.js";
import { h, clear, when, field, json, errorBox } from "./ui.js";
import { transactionsTable } from "./stations.js";
import { lineChart } from "./chart.js";

export async function transactionsPage(root, { query }) {
  const station = query.get("station") || "";
  const state = query.get("state") || "";
  const token = query.get("page") || "";
  const stationInput = h("input", { id: "tx-station", name: "station", value: station, placeholder: "CS1" });
  const stateSelect = h(
    "select",
    { id: "tx-state", name: "state" },
    ["", "active", "ended"].map((s) => h("option", { value: s, selected: s === state }, s || "any"))
  );
  const form = h(
    "form",
    { class: "filters" },
    field("Station", stationInput),
    field("State", stateSelect),
    h("button", { type: "submit" }, "Filter")
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (stationInput.value.trim()) params.set("station", stationInput.value.trim());
    if (stateSelect.value) params.set("state", stateSelect.value);
    location.hash = `#/transactions${params.size ? `?${params}` : ""}`;
  });
  const results = h("div", { id: "transactions" }, h("p", { class: "pending" }, "Loading…"));
  clear(root, h("h1", null, "Transactions"), form, results);
  try {
    const page = await api.get("/v1/transactions", { stationId: station, state, pageToken: token, pageSize: 50 });
    const next = page.nextPageToken
      ? h("p", null, h("a", { href: `#/transactions?${new URLSearchParams({ station, state, page: page.nextPageToken })}` }, "Next page →"))
      : null;
    clear(results, transactionsTable(page.transactions || []), next);
  } catch (err) {
    clear(results, errorBox(err));
  }
}

/** Energy.Active.Import.Register (kWh) and Power.Active.Import (kW) of the transaction's
 * meter values, in time order (values in Wh/W unless the sample says k). */
export function series(transaction) {
  const energy = [];
  const power = [];
  for (const event of transaction.events || []) {
    for (const mv of event.meterValues || []) {
      const t = new Date(mv.timestamp || event.timestamp);
      for (const sv of mv.sampledValue || []) {
        const measurand = sv.measurand || "Energy.Active.Import.Register";
        if (sv.phase) continue;
        const multiplier = 10 ** (sv.unitOfMeasure?.multiplier || 0);
        const unit = sv.unitOfMeasure?.unit || (measurand.startsWith("Energy") ? "Wh" : "W");
        const value = Number(sv.value) * multiplier * (unit.startsWith("k") ? 1000 : 1);
        if (measurand === "Energy.Active.Import.Register") energy.push({ t, v: value / 1000 });
        else if (measurand === "Power.Active.Import") power.push({ t, v: value / 1000 });
      }
    }
  }
  const order = (a, b) => a.t - b.t;
  return { energy: energy.sort(order), power: power.sort(order) };
}

export async function transactionPage(root, { params, query }) {
  const [id] = params;
  const station = query.get("station") || "";
  let tx;
  try {
    tx = await api.get(`/v1/transactions/${encodeURIComponent(id)}`, { stationId: station });
  } catch (err) {
    clear(root, h("h1", null, `Transaction ${id}`), errorBox(err));
    return;
  }
  const { energy, power } = series(tx);
  const facts = [
    ["Station", h("a", { href: `#/stations/${encodeURIComponent(tx.stationId)}` }, tx.stationId)],
    ["EVSE / connector", `${tx.evseId || "–"} / ${tx.connectorId || "–"}`],
    ["State", tx.active ? "active" : "ended"],
    ["Protocol", tx.protocol || ""],
    ["Charging state", tx.chargingState || ""],
    // A 1.6 idTag has no type.
    ["Id token", tx.idToken ? (tx.idTokenType ? `${tx.idToken} (${tx.idTokenType})` : tx.idToken) : ""],
    ["Remote start", tx.remoteStartId !== undefined ? String(tx.remoteStartId) : ""],
    ["Started", when(tx.startedAt)],
    ["Ended", when(tx.endedAt)],
    ["Stopped reason", tx.stoppedReason || ""],
    ["Energy", `${((tx.energyWh || 0) / 1000).toFixed(3)} kWh`],
  ];
  clear(
    root,
    h("p", null, h("a", { href: "#/transactions" }, "← Transactions")),
    h("h1", null, `Transaction ${tx.id}`),
    h("dl", { class: "facts" }, facts.filter(([, v]) => v !== "").map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    h("h2", null, "Energy and power"),
    h("div", { class: "charts" }, lineChart("Energy", "kWh", energy, { id: "chart-energy" }), lineChart("Power", "kW", power, { id: "chart-power" })),
    h("h2", null, "Events"),
    h("details", null, h("summary", null, `${(tx.events || []).length} TransactionEvents`), json(tx.events || []))
  );
}
