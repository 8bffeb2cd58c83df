// Inline edits in staff tables: a control saves when it changes; a value the server refuses is
// put back to the stored one, so the page never shows what was not saved.
import { showError, toast } from "./app.js";
import { t } from "./i18n.js";

function show(control, value) {
  if (control.type === "checkbox") control.checked = Boolean(value);
  else control.value = value === null || value === undefined ? "" : String(value);
}

function current(control) {
  return control.type === "checkbox" ? control.checked : control.value;
}

// save(value) gets the control's raw value (a string, or a boolean for a checkbox).
export function saveOnChange(control, stored, save) {
  let kept = stored;
  control.addEventListener("change", async () => {
    const value = current(control);
    try {
      await save(value);
      kept = value;
      toast(t("common.saved"));
    } catch (err) {
      show(control, kept);
      showError(err);
    }
  });
  return control;
}
