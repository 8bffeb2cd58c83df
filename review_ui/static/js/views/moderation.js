// Moderator view: disagreements to resolve, reposts of decided items, volunteers with accuracy and
// daily caps, invitations, thresholds per category.
import { api, ApiError, supports } from "../api.js";
import { barChart } from "../charts.js";
import { h, clear, fmtDate, fmtPct, listOf, table } from "../dom.js";
import { t, locale } from "../i18n.js";
import { showError, toast, state } from "../app.js";
import { categoryLabel, categoryOptions, loadCategories } from "../categories.js";
import { saveOnChange } from "../edit.js";
import { renderText, normaliseTask, dressItemText, withItemLang } from "./queue.js";

export const ROLES = ["volunteer", "moderator", "police", "ml_engineer", "admin"];

export async function moderationView(main) {
  await loadCategories();
  main.append(h("h1", null, t("mod.title")));
  const disagreements = h("section", { class: "card" }, h("h2", null, t("mod.disagreements")));
  const volunteers = h("section", { class: "card" }, h("h2", null, t("mod.volunteers")));
  const invites = h("section", { class: "card" }, h("h2", null, t("mod.invite")));
  const thresholds = h("section", { class: "card", "data-testid": "thresholds" }, h("h2", null, t("mod.thresholds")));
  const reposts = h("section", { class: "card", "data-testid": "reposts", "aria-labelledby": "reposts-title" });
  main.append(disagreements, reposts, volunteers, invites, thresholds);

  async function loadDisagreements() {
    const box = h("div");
    clear(disagreements).append(h("h2", null, t("mod.disagreements")), box);
    let tasks = [];
    try {
      // The queue lists tasks; each one's detail (item, every vote with the voter's accuracy) is a second call.
      const page = listOf(await api.moderationQueue({ limit: 10 }));
      tasks = await Promise.all(page.map((row) => api.moderationTask(row.id)));
    } catch (err) { showError(err); }
    if (!tasks.length) box.append(h("p", { class: "muted" }, t("mod.none")));
    for (const raw of tasks) {
      const task = normaliseTask(raw);
      const votes = listOf(raw.votes || []);
      const cat = h("select", { "aria-label": t("vote.category"), "data-testid": "resolve-category" },
        h("option", { value: "" }, t("mod.choose_category")), categoryOptions(h, task.category));
      const resolve = async (verdict) => {
        try { await api.resolve(task.id, { verdict, category: cat.value || null }); toast(t("mod.resolved")); loadDisagreements(); } catch (err) { showError(err); }
      };
      // The model's overall probability (the item's latest score), as the queue and the case show it;
      // the task's own number is the probability of its one category.
      const score = raw.score_detail ? raw.score_detail.score : task.score;
      box.append(h("article", { class: "dispute" },
        h("div", { class: "meta" }, h("b", null, `#${task.id}`), " ",
          h("span", { class: "badge category" }, categoryLabel(task.category)),
          h("span", { class: "badge score", "data-testid": "dispute-score" }, `${t("item.score")}: ${fmtPct(score)}`),
          h("span", null, task.source)),
        task.title ? withItemLang(h("h3", { class: "item-title", "data-testid": "dispute-title" }, task.title), task) : null,
        dressItemText(renderText((task.text || "").slice(0, 2000), task.explanation), task, null),
        h("code", { class: "url" }, task.url),
        table([
          { label: t("case.who"), render: (v) => v.display_name || v.pseudonym || v.user_id || "—" },
          { label: t("me.gold_accuracy"), render: (v) => fmtPct(v.voter_accuracy) },
          { label: t("case.verdict"), render: (v) => t(`vote.${v.verdict}`) },
          { label: t("case.category"), render: (v) => (v.category ? categoryLabel(v.category) : "—") },
          { label: t("vote.note"), render: (v) => v.note || "" },
        ], votes),
        h("div", { class: "actions" }, cat,
          h("button", { type: "button", class: "illegal", on: { click: () => resolve("illegal") } }, t("vote.illegal")),
          h("button", { type: "button", class: "legal", on: { click: () => resolve("legal") } }, t("vote.legal")))));
    }
  }

  // A repost carries its cluster's decision; the moderator confirms it or sends the item to review.
  // Its URL is crawled text, shown as text: the browser never fetches it.
  async function loadReposts(focusIndex = null) {
    let page = { items: [], total: 0 };
    try { page = await api.reposts({ limit: 20 }); } catch (err) { showError(err); }
    const rows = listOf(page);
    const title = h("h2", { id: "reposts-title", tabindex: -1 }, t("repost.title"),
      rows.length ? h("span", { class: "badge", "data-testid": "reposts-total" }, t("repost.count", { n: page.total ?? rows.length })) : null);
    clear(reposts).append(title, h("p", { class: "muted" }, t("repost.intro")));
    if (!rows.length) reposts.append(h("p", { class: "muted", "data-testid": "reposts-empty" }, t("repost.none")));
    const articles = rows.map((r, index) => repostArticle(r, index));
    reposts.append(...articles);
    if (focusIndex !== null) {
      const next = articles[Math.min(focusIndex, articles.length - 1)];
      (next ? next.querySelector("button") : title).focus();
    }
  }

  function repostArticle(r, index) {
    const act = async (call, done) => {
      try { const result = await call(r.id); toast(done(result)); await loadReposts(index); } catch (err) { showError(err); }
    };
    const decision = `${t(`vote.${r.decision}`)}${r.category ? ` · ${categoryLabel(r.category)}` : ""}`;
    return h("article", { class: "repost", "data-testid": "repost", "data-id": r.id, "aria-labelledby": `repost-${r.id}` },
      h("h3", { id: `repost-${r.id}`, class: "item-title", lang: r.language || null }, r.title || t("search.untitled")),
      h("div", { class: "meta" },
        h("span", { class: `badge decision-${r.decision}`, "data-testid": "repost-decision" }, `${t("repost.decision")}: ${decision}`),
        r.case_id ? h("a", { href: `#/cases/${r.case_id}`, class: "badge", "data-testid": "repost-case" }, t("repost.case", { id: r.case_id })) : null),
      h("dl", { class: "facts" },
        h("dt", null, t("repost.source")), h("dd", null, r.source_name || "—"),
        h("dt", null, t("repost.url")), h("dd", null, h("code", { class: "url", "data-testid": "repost-url" }, r.url)),
        h("dt", null, t("repost.seen")), h("dd", null, fmtDate(r.fetched_at, locale())),
        h("dt", null, t("repost.original")), h("dd", null, t("repost.task", { id: r.task_id }), " · ",
          t("repost.decided_at"), " ", fmtDate(r.decided_at, locale())),
        h("dt", null, t("repost.original_url")), h("dd", null, h("code", { class: "url" }, r.original_url))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", "data-testid": "repost-acknowledge",
          on: { click: () => act(api.acknowledgeRepost, () => t("repost.acknowledged")) } }, t("repost.acknowledge")),
        h("button", { type: "button", "data-testid": "repost-reopen",
          on: { click: () => act(api.reopenRepost, (res) => t("repost.reopened", { id: res.reopened_task_id })) } }, t("repost.reopen"))));
  }

  async function loadVolunteers() {
    let rows = [];
    try { rows = listOf(await api.users({ role: "volunteer", limit: 200 })); } catch (err) { showError(err); }
    // Daily caps live in the wellbeing settings, one call per volunteer (small teams).
    await Promise.all(rows.map(async (v) => {
      try { v.daily_cap = (await api.userWellbeing(v.id)).daily_cap; } catch { v.daily_cap = null; }
    }));
    const capInput = (v) => saveOnChange(
      h("input", { type: "number", min: 1, max: 2000, step: 1, class: "narrow", value: v.daily_cap ?? "", placeholder: "∞", "aria-label": t("mod.daily_cap") }),
      v.daily_cap, (value) => api.setUserWellbeing(v.id ?? v.user_id, { daily_cap: value === "" ? null : Number(value) }));
    clear(volunteers).append(h("h2", null, t("mod.volunteers")), table([
      { label: t("admin.name"), render: (v) => v.display_name || v.pseudonym || v.email || "—" },
      { label: t("mod.gold_votes"), render: (v) => v.gold_votes ?? "—" },
      { label: t("me.gold_accuracy"), render: (v) => fmtPct(v.accuracy) },
      { label: t("admin.active"), render: (v) => (v.is_active === false ? "✗" : "✓") },
      { label: t("mod.daily_cap"), render: capInput },
    ], rows, { empty: t("mod.none") }));
  }

  function renderInvites() {
    // Only the roles the server lets this account grant (GET /users/me: grantable_roles).
    const grantable = ROLES.filter((r) => ((state.user && state.user.grantable_roles) || []).includes(r));
    if (!grantable.length) { invites.remove(); return; }
    const role = h("select", { id: "invite-role", "data-testid": "invite-role", "aria-label": t("admin.role") }, grantable.map((r) => h("option", { value: r }, t(`role.${r}`))));
    const email = h("input", { id: "invite-email", type: "email", placeholder: "email", autocomplete: "off" });
    const out = h("div", { "data-testid": "invite-result" });
    const form = h("form", { class: "inline", on: { submit: async (e) => {
      e.preventDefault();
      try {
        const inv = await api.createInvite({ role: role.value, email: email.value.trim() || null });
        const link = inv.path ? `${location.origin}${inv.path}` : `${location.origin}/invite/${encodeURIComponent(inv.token)}`;
        clear(out).append(h("p", null, t("mod.invite_link")), h("code", { class: "url" }, link), h("p", { class: "muted" }, t("mod.invite_once")));
      } catch (err) { showError(err); }
    } } }, email, role, h("button", { type: "submit" }, t("mod.invite_create")));
    clear(invites).append(h("h2", null, t("mod.invite")), form, out);
  }

  async function loadThresholds() {
    let rows = [];
    if (!(await supports("GET", "/moderation/thresholds"))) {
      clear(thresholds).append(h("h2", null, t("mod.thresholds")), h("p", { class: "muted" }, t("mod.thresholds_missing")));
      return;
    }
    try {
      const data = await api.thresholds();
      rows = Array.isArray(data) || listOf(data).length ? listOf(data) : Object.entries(data || {}).map(([category, threshold]) => ({ category, threshold }));
    } catch (err) { if (!(err instanceof ApiError) || err.status !== 404) showError(err); }
    clear(thresholds).append(h("h2", null, t("mod.thresholds")), table([
      { label: t("case.category"), render: (r) => categoryLabel(r.category || r.name) },
      { label: t("mod.threshold"), render: (r) => saveOnChange(
        h("input", { type: "number", min: 0.01, max: 0.99, step: 0.01, class: "narrow", value: r.threshold, "aria-label": `${t("mod.threshold")}: ${categoryLabel(r.category || r.name)}`, "data-category": r.category || r.name }),
        r.threshold, (value) => api.setThreshold(r.category || r.name, Number(value))) },
    ], rows, { empty: t("common.unavailable") }));
  }

  const stats = h("section", { class: "card", "data-testid": "stats" });
  main.insertBefore(stats, disagreements);

  async function loadStats() {
    let s;
    try { s = await api.stats(); } catch (err) { if (!(err instanceof ApiError) || err.status !== 404) showError(err); return; }
    const depth = s.queue_depth || [];
    const max = Math.max(1, ...depth.map((d) => (d.open || 0) + (d.needs_moderator || 0)));
    clear(stats).append(h("h2", null, t("mod.stats")),
      h("div", { class: "stats" },
        h("div", { class: "stat" }, h("b", null, String(depth.reduce((a, d) => a + (d.open || 0), 0))), h("span", null, t("mod.open_tasks"))),
        h("div", { class: "stat" }, h("b", null, String(depth.reduce((a, d) => a + (d.needs_moderator || 0), 0))), h("span", null, t("mod.disagreements"))),
        h("div", { class: "stat" }, h("b", null, String(s.decisions_in_window ?? "—")), h("span", null, t("mod.decisions_window", { n: s.window_days ?? "" }))),
        h("div", { class: "stat" }, h("b", null, s.median_hours_to_decision == null ? "—" : t("mod.hours", { n: Number(s.median_hours_to_decision).toFixed(1) })), h("span", null, t("mod.median_decision"))),
        h("div", { class: "stat" }, h("b", null, fmtPct(s.agreement && s.agreement.pairwise_agreement)), h("span", null, t("mod.agreement")))),
      depth.length ? barChart(depth.map((d) => ({ name: categoryLabel(d.category), values: { open: (d.open || 0) / max, needs_moderator: (d.needs_moderator || 0) / max } })),
        [t("mod.open_tasks"), t("mod.disagreements")], { keys: ["open", "needs_moderator"], yLabel: t("mod.queue_share"), testid: "queue-depth" }) : "");
  }

  renderInvites();
  await Promise.all([loadStats(), loadDisagreements(), loadReposts(), loadVolunteers(), loadThresholds()]);
}
