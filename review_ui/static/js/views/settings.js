// Personal settings: interface language, opt-in for the most distressing categories, breaks.
import { api, ApiError } from "../api.js";
import { h, append, clear } from "../dom.js";
import { t, label, LOCALES, locale } from "../i18n.js";
import { showError, toast, setLocale } from "../app.js";
import { GREYSCALE_KEY, greyscalePreferred } from "./queue.js";

export async function settingsView(main) {
  main.append(h("h1", null, t("settings.title")));
  const lang = h("select", { id: "locale", "data-testid": "locale" }, LOCALES.map((c) => h("option", { value: c, selected: c === locale() }, t(`lang.${c}`))));
  lang.addEventListener("change", () => setLocale(lang.value));
  main.append(h("section", { class: "card" }, h("label", { for: "locale" }, t("settings.language")), lang));
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
  const optIns = (wb.categories || []).filter((c) => c.requires_opt_in).map((c) => {
    const input = h("input", { type: "checkbox", checked: Boolean(c.opted_in), "data-category": c.name, id: `opt-${c.name}` });
    return h("div", null, input, " ", h("label", { for: `opt-${c.name}` }, label(c.label, c.name)));
  });
  const every = h("input", { id: "break-every", type: "number", min: 10, max: 240, step: 5, class: "narrow", value: wb.break_every_minutes ?? 50 });
  append(clear(box), [h("h2", null, t("settings.wellbeing")),
    h("p", { class: "muted" }, t("settings.opt_in_hint")), optIns,
    h("label", { for: "break-every" }, t("settings.break_every")), every,
    wb.daily_cap ? h("p", null, t("wellbeing.today_cap", { n: wb.reviewed_today ?? 0, cap: wb.daily_cap })) : null,
    h("button", { type: "button", class: "primary", on: { click: async () => {
      const opted = [...box.querySelectorAll("input[data-category]")].filter((i) => i.checked).map((i) => i.dataset.category);
      try { await api.updateWellbeing({ opt_in_categories: opted, break_every_minutes: Number(every.value) }); toast(t("common.saved")); } catch (err) { showError(err); }
    } } }, t("common.save"))]);
}
