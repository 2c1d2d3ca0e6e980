// Id tokens and API keys: list, create, block (id tokens) and revoke (keys). Creating and
// changing need an operator key; a reader sees the id tokens only.

import * as api from "./api.js";
import { h, clear, when, field, errorBox, outcome, fillTable } from "./ui.js";

const TOKEN_TYPES = ["ISO14443", "ISO15693", "eMAID", "KeyCode", "Local", "MacAddress", "Central", "NoAuthorization"];

export async function idTokensPage(root, { role }) {
  const list = h("div", { id: "id-tokens" }, h("p", { class: "pending" }, "Loading…"));
  const result = h("div", { id: "id-token-result", "aria-live": "polite" });
  const parts = [h("h1", null, "Id tokens")];
  if (role === "operator") {
    const value = h("input", { id: "new-token", name: "idToken", required: true, placeholder: "04A2B3C4D5E6F7" });
    const type = h("select", { id: "new-token-type", name: "type" }, TOKEN_TYPES.map((t) => h("option", { value: t }, t)));
    const form = h(
      "form",
      { class: "filters", id: "id-token-form" },
      field("Id token", value),
      field("Type", type),
      h("button", { type: "submit" }, "Create")
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const created = await outcome(result, api.post("/v1/idTokens", { idToken: value.value.trim(), type: type.value, status: "Accepted" }));
      if (created) {
        value.value = "";
        await load();
      }
    });
    parts.push(form, result);
  }
  parts.push(list);
  clear(root, ...parts);

  async function load() {
    await fillTable(
      list,
      () => api.get("/v1/idTokens", { pageSize: 200 }),
      "idTokens",
      [
        ["Id token", (t) => h("code", null, t.idToken)],
        ["Type", (t) => t.type],
        ["Status", (t) => h("span", { class: `badge token-${t.status}` }, t.status)],
        ["Expires", (t) => when(t.expiryDate)],
        ["Group", (t) => t.groupIdToken || ""],
        [
          "",
          (t) =>
            role === "operator"
              ? h(
                  "button",
                  {
                    type: "button",
                    onclick: async () => {
                      const status = t.status === "Blocked" ? "Accepted" : "Blocked";
                      const done = await outcome(
                        result,
                        api.call("PATCH", `/v1/idTokens/${encodeURIComponent(t.idToken)}`, { body: { status }, query: { updateMask: "status" } })
                      );
                      if (done) await load();
                    },
                  },
                  t.status === "Blocked" ? "Unblock" : "Block"
                )
              : "",
        ],
      ],
      { empty: "No id token.", rowAttrs: (t) => ({ dataset: { token: t.idToken } }) }
    );
  }
  await load();
}

export async function apiKeysPage(root, { role }) {
  if (role !== "operator") {
    clear(root, h("h1", null, "API keys"), h("p", { class: "help" }, "Only an operator key may see and manage the API keys."));
    return;
  }
  const list = h("div", { id: "api-keys" }, h("p", { class: "pending" }, "Loading…"));
  const result = h("div", { id: "api-key-result", "aria-live": "polite" });
  const name = h("input", { id: "new-key-name", name: "name", required: true, placeholder: "monitoring" });
  const keyRole = h("select", { id: "new-key-role", name: "role" }, ["reader", "operator"].map((r) => h("option", { value: r }, r)));
  const form = h("form", { class: "filters", id: "api-key-form" }, field("Name", name), field("Role", keyRole), h("button", { type: "submit" }, "Create"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const created = await api.post("/v1/apiKeys", { name: name.value.trim(), role: keyRole.value });
      clear(
        result,
        h("p", { class: "ok" }, "Created. Copy the secret now: it is shown once."),
        h("p", null, h("code", { id: "new-key-secret", class: "secret" }, created.secret))
      );
      name.value = "";
      await load();
    } catch (err) {
      clear(result, errorBox(err));
    }
  });
  clear(root, h("h1", null, "API keys"), form, result, list);

  async function load() {
    await fillTable(
      list,
      () => api.get("/v1/apiKeys", { pageSize: 200 }),
      "apiKeys",
      [
        ["Id", (k) => h("code", null, k.id)],
        ["Name", (k) => k.name],
        ["Role", (k) => k.role],
        ["Created", (k) => when(k.createTime)],
        ["Revoked", (k) => when(k.revokeTime)],
        [
          "",
          (k) =>
            k.revokeTime
              ? ""
              : h(
                  "button",
                  {
                    type: "button",
                    class: "danger",
                    onclick: async () => {
                      if (!confirm(`Revoke the key ${k.id} (${k.name})? Whoever uses it is locked out at once.`)) return;
                      const done = await outcome(result, api.post(`/v1/apiKeys/${encodeURIComponent(k.id)}:revoke`, {}));
                      if (done) await load();
                    },
                  },
                  "Revoke"
                ),
        ],
      ],
      { empty: "No key.", rowAttrs: (k) => ({ dataset: { key: k.id } }) }
    );
  }
  await load();
}
