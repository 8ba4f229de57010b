// The composer's "buttons" option: up to three reply buttons under the typed text, sent as
// an interactive message (POST /api/conversations/{id}/interactive). Lists are API only.
import { h, icon } from "./api.js";

const BUTTONS_ICON = ["M4 6h16v4H4z", "M4 14h7v4H4z", "M13 14h7v4h-7z"];
const MAX = 3; // Meta: 1-3 reply buttons, titles of at most 20 characters
const TITLE_MAX = 20;

/** A toggle for the input row and the row of button titles it shows. */
export function quickReplies() {
  const inputs = Array.from({ length: MAX }, (_, i) => h("input.quick-title", {
    maxlength: TITLE_MAX, placeholder: `Button ${i + 1}`, "aria-label": `Button ${i + 1} title`,
  }));
  const row = h("div.quick-replies#quick-replies", { hidden: true },
    h("span.small.muted", "Reply buttons:"), ...inputs);
  const toggle = h("button.icon.attach#buttons-button", {
    type: "button", title: "Add reply buttons (up to 3) under the message", "aria-label": "Reply buttons",
    "aria-pressed": "false",
  }, icon(BUTTONS_ICON, { size: 20, width: 1.8 }));
  toggle.addEventListener("click", () => {
    row.hidden = !row.hidden;
    toggle.setAttribute("aria-pressed", String(!row.hidden));
    if (!row.hidden) inputs[0].focus();
  });
  return {
    toggle,
    row,
    /** The buttons to send ({id, title}), or null to send plain text. */
    values() {
      if (row.hidden) return null;
      const titles = inputs.map((i) => i.value.trim()).filter(Boolean);
      return titles.length ? titles.map((title, i) => ({ id: `option-${i + 1}`, title })) : null;
    },
    reset() {
      for (const input of inputs) input.value = "";
      row.hidden = true;
      toggle.setAttribute("aria-pressed", "false");
    },
  };
}
