// Small pieces shared by the settings sections: inline API errors, busy buttons, a
// one-time secret box with a copy button, empty table rows and "in 6 days" dates.
import { fmtFull, h } from "./api.js";

/** Show an API error next to its form; a problem naming a `field` says which one. */
export function showError(box, err, inputs = {}) {
  const field = err.problem?.field;
  box.textContent = field && !err.local ? `${field}: ${err.message}` : err.message;
  box.hidden = false;
  const input = field && inputs[field];
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

/** A check made here, before asking the server: marks `field` without naming it. */
export const localError = (message, field) => ({ message, local: true, problem: { field } });

export function clearError(box, inputs = {}) {
  box.hidden = true;
  box.textContent = "";
  for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
}

/** Run `work` with `button` disabled and relabelled; the label comes back afterwards. */
export async function busy(button, label, work) {
  const before = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.textContent = before;
  }
}

/** A button that copies `text`; where the clipboard is refused it selects `target`. */
export function copyButton(text, target, label = "Copy") {
  const copy = h("button.small", { type: "button" }, label);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(target);
      copy.textContent = "Selected: press Ctrl+C";
    }
  });
  return copy;
}

/** Fill a `.token-once` box: what was made, the value, copy + dismiss buttons. */
export function showOnce(box, { title, note, value, id }) {
  const code = h(`code#${id}`, value);
  box.replaceChildren(
    h("strong", title),
    note ? h("span.small", note) : null,
    code,
    h("div.row", copyButton(value, code),
      h("button.small.ghost", { type: "button", onclick: () => { box.hidden = true; box.replaceChildren(); } },
        "Done, hide it")),
  );
  box.hidden = false;
}

export const emptyRow = (colspan, text) => h("tr.empty-row", h("td.faint", { colspan }, text));

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "in 6 days" / "in 3 hours" for a future instant, with the full date as a tooltip. */
export function until(iso) {
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  let text;
  if (s <= 0) text = "expired";
  else if (s >= 86400) text = relative.format(Math.round(s / 86400), "day");
  else if (s >= 3600) text = relative.format(Math.round(s / 3600), "hour");
  else text = relative.format(Math.max(1, Math.round(s / 60)), "minute");
  return h("span", { title: fmtFull(iso) }, text);
}
