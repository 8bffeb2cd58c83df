// Audit log for admins: the hash chain's status and the entries, filtered by actor, action and date.
import { api } from "../api.js";
import { h, append, clear, fmtDate, listOf, table } from "../dom.js";
import { t, locale } from "../i18n.js";
import { errorMessage, showError } from "../app.js";
import { field, isoFromInput, pager, scrollBox } from "./staff.js";

const PAGE = 50;

export async function auditView(main) {
  main.append(h("h1", null, t("audit.title")));
  const chain = h("section", { class: "card", "aria-live": "polite", "data-testid": "audit-chain" }, h("h2", null, t("audit.chain")));
  const actor = h("select", { id: "audit-actor", "data-testid": "audit-actor" }, h("option", { value: "" }, t("common.all")));
  const action = h("select", { id: "audit-action", "data-testid": "audit-action" }, h("option", { value: "" }, t("common.all")));
  const from = h("input", { id: "audit-from", type: "date" });
  const to = h("input", { id: "audit-to", type: "date" });
  const form = h("form", { class: "card staff-filters", "data-testid": "audit-form" },
    field(t("audit.actor"), actor), field(t("audit.action"), action), field(t("search.from"), from), field(t("search.to"), to),
    h("div", { class: "field submit" }, h("button", { type: "submit", class: "primary", "data-testid": "audit-apply" }, t("common.apply"))));
  const entries = h("section", { class: "card", "data-testid": "audit-entries" });
  main.append(chain, form, entries);

  const names = new Map();
  const [people, actions] = await Promise.all([
    api.users({ limit: 200 }).then(listOf).catch((err) => { showError(err); return []; }),
    api.auditActions().catch((err) => { showError(err); return []; }),
  ]);
  for (const u of people) {
    names.set(u.id, u.display_name || u.email);
    actor.append(h("option", { value: u.id }, `${u.display_name || u.email} (${t(`role.${u.role}`)})`));
  }
  for (const name of actions) action.append(h("option", { value: name }, name));

  async function loadChain() {
    const button = h("button", { type: "button", "data-testid": "audit-verify", on: { click: loadChain } }, t("audit.verify_again"));
    clear(chain).append(h("h2", null, t("audit.chain")), h("p", { class: "muted" }, t("audit.verifying")));
    let result;
    try { result = await api.auditVerify(); } catch (err) {
      clear(chain).append(h("h2", null, t("audit.chain")), h("p", { class: "error", role: "alert" }, `${t("error.prefix")}: ${errorMessage(err)}`), button);
      return;
    }
    const status = result.ok
      ? h("p", { class: "chain ok", "data-testid": "chain-status", "data-key": "intact" }, "✓ ", t("audit.intact", { n: result.entries }))
      : h("p", { class: "chain broken", role: "alert", "data-testid": "chain-status", "data-key": "broken" }, "✗ ",
        result.first_bad_id == null ? t("audit.broken") : t("audit.broken_at", { id: result.first_bad_id }));
    append(clear(chain), [h("h2", null, t("audit.chain")), status,
      h("p", { class: "muted" }, t("audit.entries", { n: result.entries }), result.pending ? ` · ${t("audit.pending", { n: result.pending })}` : ""),
      h("p", { class: "muted" }, t("audit.head"), " ", h("code", { class: "url" }, result.head_hash || "—")),
      result.problems && result.problems.length
        ? h("ul", { class: "problems" }, result.problems.map((p) => h("li", null, p))) : null,
      button]);
  }

  async function loadEntries(offset = 0) {
    const query = {
      actor_id: actor.value || null, action: action.value || null,
      at_from: isoFromInput(from.value), at_to: isoFromInput(to.value, true), offset, limit: PAGE,
    };
    let page;
    try { page = await api.audit(query); } catch (err) {
      clear(entries).append(h("h2", null, t("audit.entries_title")), h("p", { class: "error", role: "alert", "data-testid": "audit-error" }, `${t("error.prefix")}: ${errorMessage(err)}`));
      return;
    }
    const rows = listOf(page);
    clear(entries).append(h("h2", null, t("audit.entries_title")),
      scrollBox(table([
        { label: t("audit.position"), render: (e) => (e.seq == null ? "…" : String(e.seq)) },
        { label: t("audit.when"), render: (e) => fmtDate(e.at, locale()) },
        { label: t("audit.actor"), render: (e) => (e.actor_id == null ? t("audit.system") : names.get(e.actor_id) || `#${e.actor_id}`) },
        { label: t("audit.action"), render: (e) => h("code", null, e.action) },
        { label: t("audit.entity"), render: (e) => `${e.entity_type}${e.entity_id == null ? "" : ` #${e.entity_id}`}` },
        { label: t("audit.details"), cls: "url", render: (e) => JSON.stringify(e.payload || {}) },
      ], rows, { empty: t("audit.none"), cls: "audit" }), t("audit.entries_title")),
      pager({ offset, limit: PAGE }, page.total ?? rows.length, loadEntries, {
        prev: t("search.prev"), next: t("search.next"), range: (a, b, n) => t("search.range", { a, b, n }),
      }));
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); loadEntries(0); });
  await Promise.all([loadChain(), loadEntries(0)]);
}
