// The REST API as the console calls it: the API key (kept in sessionStorage, for this browser
// tab's session only) in every request's Authorization header, JSON in and out, errors as the
// API's own {code, message}, and the fleet's live stream (server-sent events read with fetch,
// since EventSource cannot send the key).

const KEY = "csms.console.key";
const ROLE = "csms.console.role";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

const listeners = new Set();

/** Called with a reason when the key stops working (revoked, unknown): the console signs out. */
export function onSignedOut(listener) {
  listeners.add(listener);
}

export function session() {
  const key = sessionStorage.getItem(KEY);
  return key ? { key, role: sessionStorage.getItem(ROLE) || "reader" } : null;
}

export function signOut(reason) {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ROLE);
  for (const listener of listeners) listener(reason);
}

function headers(key, extra) {
  return { authorization: `Bearer ${key}`, accept: "application/json", ...extra };
}

async function parse(resp) {
  const text = await resp.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** The role of ``key``: an operator may list the API keys, a reader may not (403); an
 * unknown or revoked key is refused (401). */
export async function signIn(key) {
  const resp = await fetch("/v1/apiKeys?pageSize=1", { headers: headers(key) });
  if (resp.status === 401) throw new ApiError(401, await parse(resp));
  let role;
  if (resp.ok) role = "operator";
  else if (resp.status === 403) role = "reader";
  else throw new ApiError(resp.status, await parse(resp));
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(ROLE, role);
  return role;
}

/** ``method`` ``path`` with ``body`` (JSON) and ``query``; the parsed answer, or ApiError. */
export async function call(method, path, { body, query } = {}) {
  const current = session();
  if (!current) throw new ApiError(401, { message: "signed out" });
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(name, one);
  }
  const init = { method, headers: headers(current.key) };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  const parsed = await parse(resp);
  if (resp.status === 401) {
    signOut("Your API key is no longer valid (revoked?): you were signed out.");
  }
  if (!resp.ok) throw new ApiError(resp.status, parsed);
  return parsed;
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body });
export const patch = (path, body) => call("PATCH", path, { body });

/** Follow GET /v1/fleet:watch: ``onUpdate`` gets each update, ``onState`` "live" or
 * "reconnecting"; reconnects after a break. Returns a function that stops it. */
export function watchFleet(stationIds, onUpdate, onState) {
  let stopped = false;
  let controller = null;
  async function run() {
    while (!stopped) {
      const current = session();
      if (!current) return;
      controller = new AbortController();
      try {
        const url = new URL("/v1/fleet:watch", location.origin);
        for (const id of stationIds) url.searchParams.append("stationIds", id);
        const resp = await fetch(url, {
          headers: headers(current.key, { accept: "text/event-stream" }),
          signal: controller.signal,
        });
        if (resp.status === 401) {
          signOut("Your API key is no longer valid (revoked?): you were signed out.");
          return;
        }
        if (!resp.ok) throw new ApiError(resp.status, await parse(resp));
        onState && onState("live");
        await readEvents(resp.body, onUpdate);
      } catch (err) {
        if (stopped) return;
      }
      onState && onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

async function readEvents(stream, onEvent) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}
