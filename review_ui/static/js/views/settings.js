// Personal settings: interface language, opt-in for the most distressing categories, own daily limits
// and text blur per category, breaks.
import { api, ApiError } from "../api.js";
import { h, append, clear } from "../dom.js";
import { t, label, LOCALES, LOCALE_NAMES, locale } from "../i18n.js";
import { showError, toast, setLocale } from "../app.js";
import { GREYSCALE_KEY, greyscalePreferred } from "./queue.js";

export async function settingsView(main) {
  main.append(h("h1", null, t("settings.title")));
  const lang = h("select", { id: "locale", "data-testid": "locale" }, LOCALES.map((c) => h("option", { value: c, selected: c === locale() }, LOCALE_NAMES[c])));
  lang.addEventListener("change", () => setLocale(lang.value));
  main.append(h("section", { class: "card" }, h("label", { for: "locale" }, t("settings.language")), " ", lang));
  // Revealed images in greyscale: a display preference of this browser, applied at once.
  const grey = h("input", { type: "checkbox", id: "media-greyscale", checked: greyscalePreferred(), "data-testid": "media-greyscale" });
  grey.addEventListener("change", () => { try { localStorage.setItem(GREYSCALE_KEY, grey.checked ? "1" : "0"); } catch { /* private mode */ } });
  main.append(h("section", { class: "card" }, grey, " ", h("label", { for: "media-greyscale" }, t("settings.greyscale"))));
  const box = h("section", { class: "card" }, h("h2", null, t("settings.wellbeing")));
  main.append(box);
  let wb;
  try { wb = await api.wellbeing(); } catch (err) {
    box.append(h("p", { class: "muted" }, t("wellbeing.unavailable")));
    if (!(err instanceof ApiError) || err.status !== 404) showError(err);
    return;
  }
  const every = h("input", { id: "break-every", type: "number", min: 10, max: 240, step: 5, class: "narrow", value: wb.break_every_minutes ?? 50 });
  append(clear(box), [h("h2", null, t("settings.wellbeing")),
    h("p", { class: "muted" }, t("settings.opt_in_hint")), h("p", { class: "muted" }, t("exposure.hint")),
    exposureTable(wb.categories || []),
    h("p", null, h("label", { for: "break-every" }, t("settings.break_every")), " ", every),
    wb.daily_cap ? h("p", null, t("wellbeing.today_cap", { n: wb.reviewed_today ?? 0, cap: wb.daily_cap })) : null,
    h("button", { type: "button", class: "primary", "data-testid": "save-wellbeing", on: { click: () => save(box, every) } }, t("common.save"))]);
}

// One row a category: its name (with the opt-in for the distressing ones), the reviewer's own daily
// limit and the text blur. Three columns, so that it fits a phone.
function exposureTable(categories) {
  const head = h("tr", null, ["exposure.category", "exposure.daily_limit", "exposure.blur_text"]
    .map((key) => h("th", { scope: "col" }, t(key))));
  const rows = categories.map((c) => {
    const name = label(c.label, c.name);
    const optIn = c.requires_opt_in
      ? h("div", { class: "opt-in" },
        h("input", { type: "checkbox", checked: Boolean(c.opted_in), "data-category": c.name, id: `opt-${c.name}`, "aria-label": t("exposure.opt_in_for", { category: name }) }),
        " ", h("label", { for: `opt-${c.name}` }, t("exposure.shown")))
      : null;
    const limit = h("input", {
      type: "number", min: 0, max: 2000, step: 1, class: "narrow", "data-budget": c.name, "data-testid": `budget-${c.name}`,
      value: c.own_daily_budget ?? "", placeholder: "—", "aria-label": t("exposure.limit_for", { category: name }),
    });
    const blur = h("input", { type: "checkbox", checked: Boolean(c.blur_text), "data-blur": c.name, "data-testid": `blur-${c.name}`, "aria-label": t("exposure.blur_for", { category: name }) });
    return h("tr", null, h("th", { scope: "row" }, name, optIn),
      h("td", null, limit, " ", h("span", { class: "muted today" }, t("exposure.today", { n: c.today_count ?? 0 }))), h("td", null, blur));
  });
  return h("table", { class: "grid exposure", "data-testid": "exposure" }, h("thead", null, head), h("tbody", null, rows));
}

async function save(box, every) {
  const limits = [...box.querySelectorAll("input[data-budget]")];
  const bad = limits.find((i) => !i.checkValidity() || (i.value !== "" && !Number.isInteger(Number(i.value))));
  if (bad || !every.checkValidity()) {
    toast(bad ? t("exposure.invalid_limit") : t("exposure.invalid_break"), "error");
    (bad || every).focus();
    return;
  }
  const checked = (selector) => [...box.querySelectorAll(selector)].filter((i) => i.checked);
  try {
    await api.updateWellbeing({
      opt_in_categories: checked("input[data-category]").map((i) => i.dataset.category),
      blur_text_categories: checked("input[data-blur]").map((i) => i.dataset.blur),
      daily_budgets: Object.fromEntries(limits.map((i) => [i.dataset.budget, i.value === "" ? null : Number(i.value)])),
      break_every_minutes: Number(every.value),
    });
    toast(t("common.saved"));
  } catch (err) { showError(err); }
}
