// The console's shell: sign-in, the routes (#/...), the fleet page, and signing out when the
// key stops working (checked every few seconds, and on any 401).

import * as api from "./api.js";
import { h, clear } from "./ui.js";
import { stationsPage, stationPage } from "./stations.js";
import { transactionsPage, transactionPage } from "./transactions.js";
import { idTokensPage, apiKeysPage } from "./admin.js";
import { sitesPage, reservationsPage, tariffsPage, recordsPage, firmwarePage, alertsPage } from "./more.js";

const main = document.getElementById("main");
const notice = document.getElementById("notice");
let cleanup = null;

const routes = [
  [/^\/$/, fleetPage],
  [/^\/stations$/, stationsPage],
  [/^\/stations\/([^/]+)$/, stationPage],
  [/^\/transactions$/, transactionsPage],
  [/^\/transactions\/([^/]+)$/, transactionPage],
  [/^\/idTokens$/, idTokensPage],
  [/^\/apiKeys$/, apiKeysPage],
  [/^\/sites$/, sitesPage],
  [/^\/reservations$/, reservationsPage],
  [/^\/tariffs$/, tariffsPage],
  [/^\/records$/, recordsPage],
  [/^\/firmware$/, firmwarePage],
  [/^\/alerts$/, alertsPage],
];

export function say(text, kind = "info") {
  clear(notice, text ? h("p", { class: `notice ${kind}` }, text) : null);
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

/** Registers what to undo when the page changes (streams, timers). */
export function onLeave(fn) {
  const previous = cleanup;
  cleanup = () => {
    if (previous) previous();
    fn();
  };
}

async function render() {
  if (cleanup) {
    const fn = cleanup;
    cleanup = null;
    fn();
  }
  const current = api.session();
  shell(current);
  if (!current) {
    signInPage();
    return;
  }
  const { path, query } = parseHash();
  for (const [pattern, page] of routes) {
    const match = pattern.exec(path);
    if (match) {
      highlight(path);
      clear(main);
      try {
        await page(main, { params: match.slice(1).map(decodeURIComponent), query, role: current.role });
      } catch (err) {
        if (err.status !== 401) clear(main, h("p", { class: "error", role: "alert" }, `Error: ${err.message}`));
      }
      return;
    }
  }
  clear(main, h("h1", null, "Not found"), h("p", null, h("a", { href: "#/" }, "Back to the fleet")));
}

function highlight(path) {
  for (const link of document.querySelectorAll("#nav a")) {
    const target = link.getAttribute("href").slice(1);
    const active = target === "/" ? path === "/" : path === target || path.startsWith(`${target}/`);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function shell(current) {
  document.getElementById("nav").hidden = !current;
  document.getElementById("who").hidden = !current;
  document.body.dataset.role = current ? current.role : "";
  if (current) {
    const role = document.getElementById("role");
    role.textContent = current.role === "operator" ? "operator key" : "reader key (read-only)";
    role.className = `badge role-${current.role}`;
  }
}

function signInPage() {
  const input = h("input", {
    id: "key",
    type: "password",
    name: "key",
    autocomplete: "off",
    required: true,
    placeholder: "csms_…",
    "aria-describedby": "key-help",
  });
  const error = h("div", { id: "signin-error" });
  const form = h(
    "form",
    { class: "signin", id: "signin" },
    h("h1", null, "Sign in"),
    h("label", { for: "key" }, "API key"),
    input,
    h(
      "p",
      { id: "key-help", class: "help" },
      "A reader key sees the fleet; an operator key also sends commands and manages id tokens and keys. ",
      "The key is kept for this browser tab only."
    ),
    h("button", { type: "submit" }, "Sign in"),
    error
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(error);
    try {
      await api.signIn(input.value.trim());
      say("");
      if (!location.hash || location.hash === "#/signin") location.hash = "#/";
      else render();
    } catch (err) {
      clear(
        error,
        h("p", { class: "error", role: "alert" }, err.status === 401 ? "This API key is not valid (unknown or revoked)." : `Error: ${err.message}`)
      );
    }
  });
  clear(main, form);
  input.focus();
}

// -- the fleet ------------------------------------------------------------------------------------

const COUNTS = [
  ["connected", "Connected", "#/stations?status=connected"],
  ["charging", "Charging", "#/transactions?state=active"],
  ["faulted", "Faulted", "#/stations?status=faulted"],
  ["offline", "Offline", "#/stations?status=offline"],
];

function fleetPage(root) {
  const live = h("span", { class: "live", id: "live", dataset: { state: "connecting" } }, "connecting…");
  const cards = {};
  const grid = h(
    "div",
    { class: "cards" },
    COUNTS.map(([key, label, href]) => {
      cards[key] = h("span", { class: "count", id: `count-${key}` }, "–");
      return h("a", { class: `card card-${key}`, href }, h("span", { class: "label" }, label), cards[key]);
    })
  );
  const total = h("p", { id: "fleet-total" });
  const updated = h("p", { class: "help", id: "fleet-updated" });
  clear(root, h("h1", null, "Fleet ", live), grid, total, updated);
  const stop = api.watchFleet(
    [],
    (update) => {
      const summary = update.summary || {};
      for (const [key] of COUNTS) cards[key].textContent = String(summary[key] ?? 0);
      if (!summary.chargingKnown) cards.charging.textContent = "?";
      total.textContent = `${summary.stations ?? 0} stations registered.`;
      updated.textContent = `Updated ${new Date(update.time).toLocaleTimeString()}.`;
    },
    (state) => {
      live.dataset.state = state;
      live.textContent = state === "live" ? "live" : "reconnecting…";
    }
  );
  onLeave(stop);
}

// -- start ------------------------------------------------------------------------------------------

document.getElementById("signout").addEventListener("click", () => api.signOut(""));
api.onSignedOut((reason) => {
  say(reason, "warning");
  render();
});
// A revoked key signs the console out within seconds, even on a page that sends nothing.
setInterval(async () => {
  if (!api.session()) return;
  try {
    await api.get("/v1/fleet");
  } catch {
    // a 401 signed out already (api.call); anything else is not the key's fault
  }
}, 5000);
window.addEventListener("hashchange", render);
render();
