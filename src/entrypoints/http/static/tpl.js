// Template placeholders: the same rules the server applies (whatsapp_core.policies.
// template_content), checked while typing so a mistake shows before Meta refuses it.
import { h } from "./api.js";

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const POSITIONAL = /^[1-9][0-9]*$/;
const NAMED = /^[a-z_][a-z0-9_]*$/;
const BAD_WHITESPACE = /[\n\r\t]| {5,}/;

/** Distinct placeholder names in order of first appearance ("1", "first_name"). */
export function placeholders(text) {
  const seen = [];
  for (const m of (text || "").matchAll(PLACEHOLDER)) if (!seen.includes(m[1])) seen.push(m[1]);
  return seen;
}

export const isPositional = (names) => names.length > 0 && names.every((n) => POSITIONAL.test(n));

/** Problems with one text part, as sentences (empty when it is fine). */
function checkText(label, text, limit) {
  const problems = [];
  if (text.length > limit) problems.push(`${label} is ${text.length} characters; the limit is ${limit}.`);
  const names = placeholders(text);
  for (const n of names) {
    if (!POSITIONAL.test(n) && !NAMED.test(n)) {
      problems.push(`${label}: {{${n}}} is not a valid placeholder; use {{1}}, {{2}}… or lowercase names like {{first_name}}.`);
    }
  }
  const leftover = text.replace(PLACEHOLDER, "");
  if (leftover.includes("{{") || leftover.includes("}}")) problems.push(`${label} has an unmatched {{ or }}.`);
  if (text.includes("}}{{")) problems.push(`${label} has two placeholders next to each other; put text between them.`);
  const nums = names.filter((n) => POSITIONAL.test(n)).map(Number).sort((a, b) => a - b);
  if (nums.some((n, i) => n !== i + 1)) {
    problems.push(`${label} must number its placeholders 1 to ${nums.length} without gaps.`);
  }
  return problems;
}

/** Everything the server would refuse in a definition, as a list of sentences. */
export function checkDefinition({ name, body, header_text, footer, buttons = [] }) {
  const problems = [];
  if (name !== undefined && !/^[a-z0-9_]{1,512}$/.test(name)) {
    problems.push("Name: use lowercase letters, digits and underscores only.");
  }
  if (!body.trim()) problems.push("Body must not be empty.");
  else problems.push(...checkText("Body", body, 1024));
  let names = placeholders(body);
  if (header_text) {
    problems.push(...checkText("Header", header_text, 60));
    const hn = placeholders(header_text);
    if (hn.length > 1) problems.push("Header may have at most one placeholder.");
    names = names.concat(hn);
  }
  if (footer) {
    if (footer.length > 60) problems.push(`Footer is ${footer.length} characters; the limit is 60.`);
    if (placeholders(footer).length) problems.push("Footer must not have placeholders.");
  }
  if (names.some((n) => POSITIONAL.test(n)) && names.some((n) => NAMED.test(n))) {
    problems.push("Use either numbered ({{1}}) or named ({{first_name}}) placeholders, not both.");
  }
  buttons.forEach((b, i) => {
    if (!b.text.trim() || b.text.length > 25) problems.push(`Button ${i + 1}: text must be 1-25 characters.`);
    if (b.type === "URL" && !/^https?:\/\//.test(b.url || "")) problems.push(`Button ${i + 1}: the URL must start with https://`);
    if (b.type === "PHONE_NUMBER" && !/^\+?[0-9]{5,20}$/.test(b.phone_number || "")) {
      problems.push(`Button ${i + 1}: the phone number must be digits in international format.`);
    }
  });
  return problems;
}

/** Why a parameter value would be refused, or null. */
export function checkParam(value, limit = 1024) {
  if (!value.trim()) return "required";
  if (value.length > limit) return `at most ${limit} characters`;
  if (BAD_WHITESPACE.test(value)) return "no newlines, tabs or runs of 5 spaces";
  return null;
}

/** Text with each {{name}} replaced by values[name] (highlighted), or the placeholder itself. */
export function filled(text, values = {}) {
  const parts = [];
  let last = 0;
  for (const m of (text || "").matchAll(PLACEHOLDER)) {
    parts.push(text.slice(last, m.index));
    const v = values[m[1]];
    parts.push(h("span.ph", v && v.trim() ? v : `{{${m[1]}}}`));
    last = m.index + m[0].length;
  }
  parts.push((text || "").slice(last));
  return parts;
}

/** What /api/messages/send-template wants: a list for {{1}}.. and a mapping for names. */
export function paramsFor(names, values) {
  if (isPositional(names)) return names.map((n) => values[n] || "");
  return Object.fromEntries(names.map((n) => [n, values[n] || ""]));
}
