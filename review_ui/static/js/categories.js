// The taxonomy's categories with their labels ({ru, kk, en}), read once per page load from
// GET /wellbeing/me (every role may read it), so every staff page names a category the same way.
import { api } from "./api.js";
import { label, locale, t } from "./i18n.js";

// The classifier's "any category" output (classifier.model.OVERALL) in model metrics and curves.
const OVERALL = "illegal";
let loading = null;
let known = [];

export function loadCategories() {
  if (!loading) {
    loading = api.wellbeing().then((wb) => { known = (wb && wb.categories) || []; return known; })
      .catch(() => { loading = null; return known; });
  }
  return loading;
}

export function categories() {
  return known;
}

// A category's label in the interface language; the machine name when the taxonomy lacks it.
export function categoryLabel(name) {
  if (name === null || name === undefined || name === "") return "—";
  if (name === OVERALL) return t("ml.overall");
  const found = known.find((c) => c.name === name);
  return label(found && found.label, String(name));
}

// The category a person typed, by its machine name or its label in any language; null if none.
export function categoryFromText(text) {
  const wanted = String(text || "").trim().toLocaleLowerCase(locale());
  if (!wanted) return null;
  const matches = (c) => [c.name, ...Object.values(c.label || {})].some((v) => String(v).toLocaleLowerCase(locale()) === wanted);
  const exact = known.find(matches);
  if (exact) return exact.name;
  const partial = known.filter((c) => categoryLabel(c.name).toLocaleLowerCase(locale()).includes(wanted));
  return partial.length === 1 ? partial[0].name : null;
}

// <option>s of every category, labelled in the interface language.
export function categoryOptions(h, selected) {
  return known.map((c) => h("option", { value: c.name, selected: c.name === selected }, categoryLabel(c.name)));
}
