// Gold tasks for moderators: plant one from an item whose answer is known, list them, and see each
// volunteer's accuracy on them (the "accuracy" everywhere else comes from here).
import { api } from "../api.js";
import { h, clear, fmtDate, fmtPct, listOf, table } from "../dom.js";
import { t, locale } from "../i18n.js";
import { errorMessage, showError, toast } from "../app.js";
import { categoryName, categoryOptions, field, loadCategories, scrollBox } from "./staff.js";

export async function goldView(main, itemId) {
  const cats = await loadCategories();
  main.append(h("h1", null, t("gold.title")), h("p", { class: "muted" }, t("gold.intro")));
  const plant = h("section", { class: "card" });
  const tasks = h("section", { class: "card", "data-testid": "gold-tasks" });
  const people = h("section", { class: "card", "data-testid": "gold-accuracy" });
  main.append(plant, tasks, people);

  const item = h("input", { id: "gold-item", type: "number", min: 1, step: 1, required: true, value: itemId || "", "data-testid": "gold-item" });
  const verdict = h("select", { id: "gold-verdict", "data-testid": "gold-verdict" },
    h("option", { value: "illegal" }, t("vote.illegal")), h("option", { value: "legal" }, t("vote.legal")));
  const category = h("select", { id: "gold-category", "data-testid": "gold-category" }, categoryOptions(cats, t("gold.no_category")));
  const categoryField = field(t("case.category"), category);
  const message = h("p", { "aria-live": "polite", "data-testid": "gold-message" });
  verdict.addEventListener("change", () => { categoryField.hidden = verdict.value !== "illegal"; });
  const form = h("form", { class: "staff-filters", "data-testid": "gold-form", on: { submit: async (e) => {
    e.preventDefault();
    clear(message).className = "";
    if (verdict.value === "illegal" && !category.value) {
      message.className = "error";
      message.append(t("gold.category_needed"));
      category.focus();
      return;
    }
    try {
      const task = await api.goldFromItem(item.value, { verdict: verdict.value, category: verdict.value === "illegal" ? category.value : null });
      message.className = "ok";
      message.append(t("gold.planted", { task: task.id, item: task.item_id }));
      toast(t("gold.planted", { task: task.id, item: task.item_id }));
      loadTasks();
    } catch (err) {
      message.className = "error";
      message.setAttribute("role", "alert");
      message.append(`${t("error.prefix")}: ${errorMessage(err)}`);
    }
  } } },
  field(t("gold.item"), item), field(t("gold.answer"), verdict), categoryField,
  h("div", { class: "field submit" }, h("button", { type: "submit", class: "primary", "data-testid": "gold-submit" }, t("gold.plant"))));
  plant.append(h("h2", null, t("gold.plant_title")), h("p", { class: "muted" }, t("gold.plant_help")), form, message);

  async function loadTasks() {
    let rows = [];
    try { rows = listOf(await api.tasks({ is_gold: true, limit: 200 })); } catch (err) { showError(err); }
    clear(tasks).append(h("h2", null, t("gold.tasks")), scrollBox(table([
      { label: t("gold.task"), render: (r) => `#${r.id}` },
      { label: t("gold.item"), render: (r) => `#${r.item_id}` },
      { label: t("gold.answer"), render: (r) => (r.gold_verdict ? t(`vote.${r.gold_verdict}`) : "—") },
      { label: t("case.category"), render: (r) => categoryName(cats, r.gold_category) },
      { label: t("gold.answers"), render: (r) => String(r.vote_count ?? 0) },
      { label: t("case.created"), render: (r) => fmtDate(r.created_at, locale()) },
    ], rows, { empty: t("gold.no_tasks") }), t("gold.tasks")));
  }

  async function loadPeople() {
    let rows = [];
    try { rows = listOf(await api.users({ role: "volunteer", limit: 200 })); } catch (err) { showError(err); }
    clear(people).append(h("h2", null, t("gold.accuracy_title")), h("p", { class: "muted" }, t("gold.accuracy_help")), scrollBox(table([
      { label: t("admin.name"), render: (v) => v.display_name || v.pseudonym || "—" },
      { label: t("gold.answered"), render: (v) => String(v.gold_votes ?? 0) },
      { label: t("gold.correct"), render: (v) => String(v.gold_correct ?? 0) },
      { label: t("gold.accuracy"), render: (v) => (v.gold_votes ? fmtPct(v.accuracy) : t("gold.no_answers")) },
    ], rows, { empty: t("gold.no_volunteers") }), t("gold.accuracy_title")));
  }

  if (itemId) verdict.focus(); else item.focus();
  await Promise.all([loadTasks(), loadPeople()]);
}
