// Sources for moderators: risk and decision counts, add a source, crawl one now, and accept or
// reject the candidate sources found in risky sources' outlinks.
import { api } from "../api.js";
import { h, clear, fmtDate, fmtPct, listOf, table } from "../dom.js";
import { t, locale } from "../i18n.js";
import { errorMessage, showError, toast } from "../app.js";
import { field, scrollBox } from "./staff.js";

const KINDS = ["site", "forum", "telegram", "feed"];

function errorText(err) {
  return `${t("error.prefix")}: ${errorMessage(err)}`;
}

export async function sourcesView(main) {
  main.append(h("h1", null, t("sources.title")));
  const add = h("section", { class: "card" });
  const list = h("section", { class: "card", "data-testid": "sources-list" });
  const candidates = h("section", { class: "card", "data-testid": "sources-candidates" });
  main.append(add, list, candidates);

  const url = h("input", { id: "source-url", type: "text", required: true, maxlength: 2000, autocomplete: "off", spellcheck: "false", placeholder: "https://…", "data-testid": "source-url" });
  const kind = h("select", { id: "source-kind", "data-testid": "source-kind" }, KINDS.map((k) => h("option", { value: k }, t(`sources.kind.${k}`))));
  const every = h("input", { id: "source-every", type: "number", min: 1, max: 2160, step: 1, value: 6, required: true, class: "narrow" });
  const depth = h("input", { id: "source-depth", type: "number", min: 0, max: 20, step: 1, value: 2, required: true, class: "narrow" });
  const name = h("input", { id: "source-name", type: "text", maxlength: 200, autocomplete: "off", placeholder: t("sources.name_auto") });
  const message = h("p", { "aria-live": "polite", "data-testid": "source-message" });
  kind.addEventListener("change", () => { url.placeholder = kind.value === "telegram" ? "@channel" : "https://…"; });
  const form = h("form", { class: "staff-filters", "data-testid": "source-form", on: { submit: async (e) => {
    e.preventDefault();
    clear(message).className = "";
    try {
      const created = await api.createSource({
        url: url.value.trim(), kind: kind.value, crawl_every_seconds: Math.round(Number(every.value) * 3600),
        max_depth: Number(depth.value), name: name.value.trim() || null,
      });
      message.className = "ok";
      message.append(t("sources.added", { name: created.name }));
      url.value = ""; name.value = "";
      loadSources();
    } catch (err) {
      message.className = "error";
      message.setAttribute("role", "alert");
      message.append(errorText(err));
    }
  } } },
  h("div", { class: "field wide" }, h("label", { for: "source-url" }, t("sources.url")), url),
  field(t("sources.col.kind"), kind), field(t("sources.every_hours"), every), field(t("sources.depth"), depth), field(t("sources.name"), name),
  h("div", { class: "field submit" }, h("button", { type: "submit", class: "primary", "data-testid": "source-add" }, t("sources.add"))));
  add.append(h("h2", null, t("sources.add_title")), form, message);

  const state = (s) => (s.is_candidate ? t("sources.candidate") : s.enabled ? t("admin.enabled") : t("admin.disabled"));

  const namesById = new Map();

  async function loadSources() {
    let rows = [];
    try { rows = listOf(await api.sources({ limit: 200 })); } catch (err) { showError(err); }
    for (const s of rows) namesById.set(s.id, s.name);
    const crawlButton = (s) => h("button", { type: "button", disabled: !s.enabled, "data-testid": "source-crawl",
      "aria-label": `${t("sources.crawl_now")}: ${s.name}`, on: { click: async () => {
        try { const done = await api.crawlSourceNow(s.id); toast(t("sources.crawl_queued", { name: done.name })); loadSources(); } catch (err) { showError(err); }
      } } }, t("sources.crawl_now"));
    clear(list).append(h("h2", null, t("sources.list")), scrollBox(table([
      { label: t("admin.name"), key: "name" },
      { label: t("sources.col.kind"), render: (s) => t(`sources.kind.${s.kind}`) },
      { label: t("sources.col.risk"), render: (s) => fmtPct(s.risk_score) },
      { label: t("sources.col.reviewed"), render: (s) => String(s.reviewed_count ?? 0) },
      { label: t("sources.col.illegal"), render: (s) => String(s.illegal_count ?? 0) },
      { label: t("sources.col.state"), render: state },
      { label: t("sources.col.last_crawl"), render: (s) => fmtDate(s.last_crawled_at, locale()) },
      { label: t("sources.col.next_crawl"), render: (s) => fmtDate(s.next_crawl_at, locale()) },
      { label: "URL", cls: "url", render: (s) => s.url || "—" },
      { label: t("case.actions"), render: crawlButton },
    ], rows, { empty: t("sources.none") }), t("sources.list")));
  }

  async function loadCandidates() {
    let rows = [];
    try { rows = listOf(await api.sourceCandidates({ limit: 200 })); } catch (err) { showError(err); }
    const decide = (s, accept) => async () => {
      try {
        await (accept ? api.acceptSource(s.id) : api.rejectSource(s.id));
        toast(t(accept ? "sources.accepted" : "sources.rejected", { name: s.name }));
        await Promise.all([loadSources(), loadCandidates()]);
      } catch (err) { showError(err); }
    };
    clear(candidates).append(h("h2", null, t("sources.candidates")), h("p", { class: "muted" }, t("sources.candidates_help")), scrollBox(table([
      { label: t("admin.name"), key: "name" },
      { label: t("sources.col.kind"), render: (s) => t(`sources.kind.${s.kind}`) },
      { label: "URL", cls: "url", render: (s) => s.url || "—" },
      { label: t("sources.col.found_in"), render: (s) => (s.discovered_from_id ? namesById.get(s.discovered_from_id) || `#${s.discovered_from_id}` : "—") },
      { label: t("case.actions"), render: (s) => h("div", { class: "actions" },
        h("button", { type: "button", class: "legal", "data-testid": "candidate-accept", "aria-label": `${t("sources.accept")}: ${s.name}`, on: { click: decide(s, true) } }, t("sources.accept")),
        h("button", { type: "button", class: "illegal", "data-testid": "candidate-reject", "aria-label": `${t("sources.reject")}: ${s.name}`, on: { click: decide(s, false) } }, t("sources.reject"))) },
    ], rows, { empty: t("sources.no_candidates") }), t("sources.candidates")));
  }

  url.focus();
  await loadSources();
  await loadCandidates();
}
