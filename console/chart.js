// A line chart in SVG (no library: one series over time, its axes and points), with the numbers
// also as a table for keyboards and screen readers.

import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

function nice(value) {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** ``points``: [{t: Date, v: number}, ...] in time order. */
export function lineChart(title, unit, points, { id } = {}) {
  const width = 640;
  const height = 220;
  const pad = { left: 56, right: 16, top: 16, bottom: 36 };
  const figure = h("figure", { class: "chart", id, dataset: { points: points.length } });
  figure.append(h("figcaption", null, `${title} (${unit})`));
  if (!points.length) {
    figure.append(h("p", { class: "empty" }, "No meter values."));
    return figure;
  }
  const t0 = points[0].t.getTime();
  const t1 = Math.max(points[points.length - 1].t.getTime(), t0 + 1);
  const values = points.map((p) => p.v);
  let lo = Math.min(0, ...values);
  let hi = Math.max(...values);
  if (hi === lo) hi = lo + 1;
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - lo) / (hi - lo)) * (height - pad.top - pad.bottom);
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `${title}: ${points.length} values from ${nice(values[0])} to ${nice(values[values.length - 1])} ${unit}`,
    class: "chart-svg",
  });
  svg.append(
    s("line", { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom, class: "axis" }),
    s("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom, class: "axis" })
  );
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(
      s("line", { x1: pad.left, y1: y(v), x2: width - pad.right, y2: y(v), class: "grid" }),
      s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, nice(v))
    );
  }
  const fmt = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  svg.append(
    s("text", { x: pad.left, y: height - 12, class: "tick" }, fmt(t0)),
    s("text", { x: width - pad.right, y: height - 12, "text-anchor": "end", class: "tick" }, fmt(t1))
  );
  svg.append(
    s("polyline", {
      points: points.map((p) => `${x(p.t.getTime()).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "),
      class: "series",
    })
  );
  for (const p of points) {
    svg.append(s("circle", { cx: x(p.t.getTime()).toFixed(1), cy: y(p.v).toFixed(1), r: 3, class: "point" }));
  }
  figure.append(svg);
  figure.append(
    h(
      "details",
      null,
      h("summary", null, "Values"),
      h(
        "table",
        { class: "values" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, unit))),
        h("tbody", null, points.map((p) => h("tr", null, h("td", null, p.t.toLocaleString()), h("td", null, nice(p.v)))))
      )
    )
  );
  return figure;
}
