// DOM helpers: every text goes in as text (never parsed as HTML), so nothing a station sends
// can run in the operator's browser.

/** h("a", {href: "#/x", class: "c"}, "text", child, ...): an element. Attributes starting with
 * "on" are listeners; null/undefined/false children and attributes are skipped. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A date-time of the API as the operator's locale writes it ("" for none). */
export function when(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}`, dataset: { status } }, status);
}

/** A table of ``rows``; ``columns`` = [[heading, row => cell], ...]. */
export function table(columns, rows, { caption, empty = "Nothing yet.", rowAttrs } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      null,
      caption ? h("caption", null, caption) : null,
      h("thead", null, h("tr", null, columns.map(([title]) => h("th", { scope: "col" }, title)))),
      h(
        "tbody",
        null,
        rows.map((row) =>
          h("tr", rowAttrs ? rowAttrs(row) : null, columns.map(([, cell]) => h("td", null, cell(row))))
        )
      )
    )
  );
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/** The outcome of a call: the answer, or the error with its HTTP status and message. */
export function outcome(target, promise) {
  clear(target, h("p", { class: "pending" }, "Waiting for the answer…"));
  return promise.then(
    (answer) => {
      clear(target, h("p", { class: "ok" }, "Answer"), json(answer));
      return answer;
    },
    (err) => {
      clear(
        target,
        h("p", { class: "error", role: "alert" }, `Error${err.status ? ` ${err.status}` : ""}: ${err.message}`),
        err.body && Object.keys(err.body).length ? json(err.body) : null
      );
      return null;
    }
  );
}

export function field(label, control) {
  return h("label", { class: "field" }, h("span", null, label), control);
}

export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, `Error${err.status ? ` ${err.status}` : ""}: ${err.message}`);
}

/** ``target`` filled with ``key``'s rows of the page ``fetchPage`` answers, or its error. */
export async function fillTable(target, fetchPage, key, columns, options) {
  try {
    const page = await fetchPage();
    clear(target, table(columns, page[key] || [], options));
  } catch (err) {
    clear(target, errorBox(err));
  }
}
