// Interface language: Russian by default, Kazakh and English; chosen per user (stored on the account).
export const LOCALES = ["ru", "kk", "en"];
// A language picker names each interface language in itself, whatever the current one.
export const LOCALE_NAMES = { ru: "Русский", kk: "Қазақша", en: "English" };
const dictionaries = {};
let current = "ru";

export async function loadLocale(locale) {
  if (!LOCALES.includes(locale)) locale = "ru";
  if (!dictionaries[locale]) {
    const res = await fetch(`/ui/i18n/${locale}.json`, { credentials: "same-origin" });
    dictionaries[locale] = await res.json();
  }
  if (!dictionaries.ru && locale !== "ru") {
    const res = await fetch("/ui/i18n/ru.json", { credentials: "same-origin" });
    dictionaries.ru = await res.json();
  }
  current = locale;
  document.documentElement.lang = locale;
  return locale;
}

export function locale() {
  return current;
}

export function has(key) {
  return Boolean((dictionaries[current] && key in dictionaries[current]) || (dictionaries.ru && key in dictionaries.ru));
}

// t("queue.title"), t("queue.remaining", {n: 3})
export function t(key, params) {
  const text = (dictionaries[current] && dictionaries[current][key]) ?? (dictionaries.ru && dictionaries.ru[key]) ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? `{${name}}`));
}

// A content language's name (an item's, a filter's, a model report's row), or the code itself.
export function languageName(code) {
  if (!code) return "—";
  return has(`lang.${code}`) ? t(`lang.${code}`) : code;
}

// Category labels come from the server's taxonomy ({ru, kk, en}); fall back to the machine name.
export function label(labels, fallback) {
  if (labels && typeof labels === "object") return labels[current] || labels.ru || labels.en || fallback;
  return fallback;
}
