// Admin: users and roles, sources and their schedules, crawl status.
import { api, supports } from "../api.js";
import { h, clear, fmtDate, fmtPct, listOf, table } from "../dom.js";
import { t, locale } from "../i18n.js";
import { showError } from "../app.js";
import { saveOnChange } from "../edit.js";
import { ROLES } from "./moderation.js";

export async function adminView(main) {
  main.append(h("h1", null, t("admin.title")));
  const users = h("section", { class: "card" });
  const sources = h("section", { class: "card" });
  const crawl = h("section", { class: "card" });
  main.append(users, sources, crawl);

  async function loadUsers() {
    let rows = [];
    try { rows = listOf(await api.users({ limit: 200 })); } catch (err) { showError(err); }
    clear(users).append(h("h2", null, t("admin.users")), table([
      { label: t("admin.name"), render: (u) => u.display_name || "—" },
      { label: t("admin.email"), render: (u) => u.email || "—" },
      { label: t("admin.role"), render: (u) => saveOnChange(
        h("select", { "aria-label": t("admin.role"), "data-testid": `role-${u.id}` }, ROLES.map((r) => h("option", { value: r, selected: r === u.role }, t(`role.${r}`)))),
        u.role, (role) => api.updateUser(u.id, { role })) },
      { label: t("admin.active"), render: (u) => saveOnChange(
        h("input", { type: "checkbox", checked: u.is_active !== false, "aria-label": t("admin.active") }),
        u.is_active !== false, (active) => api.updateUser(u.id, { is_active: active })) },
      { label: t("case.created"), render: (u) => fmtDate(u.created_at, locale()) },
    ], rows));
  }

  async function loadSources() {
    const editable = await supports("PATCH", "/sources/{source_id}");
    let rows = [];
    try { rows = listOf(await api.sources({ limit: 200 })); } catch (err) { showError(err); }
    const hours = (s) => saveOnChange(
      h("input", { type: "number", min: 0.25, step: 0.25, class: "narrow", value: (s.crawl_every_seconds || 0) / 3600, disabled: !editable, "aria-label": `${t("admin.every_hours")}: ${s.name}` }),
      (s.crawl_every_seconds || 0) / 3600, (value) => api.updateSource(s.id, { crawl_every_seconds: Math.round(Number(value) * 3600) }));
    const enabled = (s) => saveOnChange(
      h("input", { type: "checkbox", checked: Boolean(s.enabled), "aria-label": t("admin.enabled"), disabled: !editable }),
      Boolean(s.enabled), (value) => api.updateSource(s.id, { enabled: value }));
    clear(sources).append(h("h2", null, t("admin.sources")), table([
      { label: t("admin.name"), key: "name" },
      { label: t("admin.kind"), render: (s) => (s.kind ? t(`source_kind.${s.kind}`) : "—") },
      { label: t("admin.url"), cls: "url", render: (s) => s.url || "—" },
      { label: t("admin.every_hours"), render: hours },
      { label: t("admin.enabled"), render: enabled },
      { label: t("admin.risk"), render: (s) => fmtPct(s.risk_score) },
      { label: t("admin.last_crawl"), render: (s) => fmtDate(s.last_crawled_at, locale()) },
      { label: t("admin.next_crawl"), render: (s) => fmtDate(s.next_crawl_at, locale()) },
    ], rows));
    return rows;
  }

  async function loadCrawl(rows) {
    let status = null;
    if (await supports("GET", "/sources/crawl-status")) {
      try { status = await api.crawlStatus(); } catch (err) { showError(err); }
    }
    const list = listOf(status);
    const now = Date.now();
    const stateOf = (enabled, next, overdue) => (!enabled ? t("admin.disabled")
      : (overdue ?? (next && new Date(next).getTime() < now)) ? t("admin.overdue") : t("admin.scheduled"));
    // GET /sources/crawl-status adds item counts; without it the schedule comes from the source list.
    const shown = list.length
      ? list.map((s) => ({ name: s.name, state: stateOf(s.enabled, s.next_crawl_at, s.overdue), last: s.last_crawled_at,
        next: s.next_crawl_at, items: s.item_count, recent: s.items_last_24h }))
      : rows.map((s) => ({ name: s.name, state: stateOf(s.enabled, s.next_crawl_at), last: s.last_crawled_at, next: s.next_crawl_at }));
    const columns = [
      { label: t("admin.name"), key: "name" },
      { label: t("admin.state"), key: "state" },
      { label: t("admin.last_crawl"), render: (r) => fmtDate(r.last, locale()) },
      { label: t("admin.next_crawl"), render: (r) => fmtDate(r.next, locale()) },
    ];
    if (list.length) columns.push({ label: t("admin.items"), key: "items" }, { label: t("admin.items_24h"), key: "recent" });
    clear(crawl).append(h("h2", null, t("admin.crawl_status")), table(columns, shown));
  }

  await loadUsers();
  const rows = await loadSources();
  await loadCrawl(rows);
}
