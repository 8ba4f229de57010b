// Shared by every page: the REST client (cookie session + CSRF), the live event socket,
// a tiny DOM builder (text only, never innerHTML) and formatting helpers.

const body = document.body;

export const me = {
  id: body.dataset.userId || null,
  name: body.dataset.userName || "",
  role: body.dataset.role || "",
  perms: new Set((body.dataset.perms || "").split(" ").filter(Boolean)),
};

/** May the signed-in role do this action? The server checks again on every call. */
export const can = (action) => me.perms.has(action);

/** Hide every element whose data-perm names an action this role lacks. */
export function applyPermissions(root = document) {
  for (const el of root.querySelectorAll("[data-perm]")) {
    if (!can(el.dataset.perm)) el.hidden = true;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

export class ApiError extends Error {
  constructor(status, message, problem) {
    super(message);
    this.status = status;
    this.problem = problem || {};
  }
}

let refreshing = null;

/** Trade the refresh cookie for a new access token; true when the session goes on. */
export function refreshSession() {
  refreshing ??= fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin" })
    .then((res) => res.ok)
    .catch(() => false)
    .finally(() => setTimeout(() => (refreshing = null), 0));
  return refreshing;
}

export function sessionExpired() {
  const here = location.pathname + location.search;
  location.assign(`/login?expired=1&next=${encodeURIComponent(here)}`);
}

/**
 * Call the API. `body` is JSON unless `raw` is given (then sent as is with `contentType`).
 * A 401 means the session expired: go back to the login page (unless `auth: false`).
 */
export async function api(path, { method = "GET", body: payload, raw, contentType, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (raw !== undefined) {
    init.body = raw;
    headers["Content-Type"] = contentType || "application/octet-stream";
  } else if (payload !== undefined) {
    init.body = JSON.stringify(payload);
    headers["Content-Type"] = "application/json";
  }
  if (!["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = cookie("wa_csrf");
  let res;
  try {
    res = await fetch(path, init);
    if (res.status === 401 && auth && (await refreshSession())) {
      if (headers["X-CSRF-Token"] !== undefined) headers["X-CSRF-Token"] = cookie("wa_csrf");
      res = await fetch(path, init);
    }
  } catch {
    throw new ApiError(0, "The server can't be reached. Check your connection and try again.");
  }
  if (res.status === 401 && auth) {
    sessionExpired();
    throw new ApiError(401, "Your session expired.");
  }
  const type = res.headers.get("content-type") || "";
  let data = null;
  if (res.status !== 204) data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const detail = (data && (data.detail || data.title)) || res.statusText || "Request failed";
    throw new ApiError(res.status, detail, data);
  }
  return data;
}

// ---------------------------------------------------------------- DOM

/** h("div.cls#id", {attr: v, onclick: fn}, child, "text", [more]) — text is never parsed as HTML. */
export function h(spec, attrs, ...children) {
  const [, tag = "div", rest = ""] = spec.match(/^([a-z0-9]*)(.*)$/i);
  const el = document.createElement(tag || "div");
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  // A second argument that is not a plain object is a child (including 0 and "").
  if (attrs !== null && attrs !== undefined && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "text") el.textContent = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

/** Replace the children of `el`, skipping null/false (DOM replaceChildren would print "null"). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
/** An inline SVG icon from path strings (built with createElementNS: CSP-safe). */
export function icon(paths, { size = 16, fill = "none", stroke = "currentColor", width = 2, box = 24 } = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", size);
  svg.setAttribute("height", size);
  svg.setAttribute("viewBox", `0 0 ${box} ${box}`);
  svg.setAttribute("fill", fill);
  svg.setAttribute("stroke", stroke);
  svg.setAttribute("stroke-width", width);
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("aria-hidden", "true");
  for (const d of [].concat(paths)) {
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", d);
    svg.append(p);
  }
  return svg;
}

export function avatar(name, size = "") {
  const label = (name || "?").trim();
  const letters = label.replace(/^\+/, "").split(/\s+/).slice(0, 2).map((w) => w[0] || "").join("").toUpperCase();
  let hash = 0;
  for (const ch of label) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return h(`div.avatar.c${hash % 8}${size ? "." + size : ""}`, { "aria-hidden": "true" }, letters || "?");
}

export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const t = h(`div.toast${kind ? "." + kind : ""}`, { role: "status" }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 6000 : 3500);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// ---------------------------------------------------------------- time

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long" });
const dateFmt = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
const shortDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();

export const fmtTime = (iso) => timeFmt.format(new Date(iso));
export const fmtFull = (iso) => fullFmt.format(new Date(iso));

/** "12:30" today, "Yesterday", a weekday this week, else a short date (the list column). */
export function fmtWhen(iso) {
  const d = new Date(iso);
  const days = Math.round((startOfDay(new Date()) - startOfDay(d)) / 86400000);
  if (days <= 0) return timeFmt.format(d);
  if (days === 1) return "Yesterday";
  if (days < 7) return dayFmt.format(d);
  return shortDate.format(d);
}

/** "Today", "Yesterday", weekday or full date (the separators in a thread). */
export function fmtDay(iso) {
  const d = new Date(iso);
  const days = Math.round((startOfDay(new Date()) - startOfDay(d)) / 86400000);
  if (days <= 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days < 7) return dayFmt.format(d);
  return dateFmt.format(d);
}

export function dayKey(iso) {
  return startOfDay(new Date(iso));
}

/** "23h 05m" / "42m" / "under a minute" until `iso`; null once it has passed. */
export function timeLeft(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  if (!(ms > 0)) return null;
  const mins = Math.floor(ms / 60000);
  if (mins < 1) return "under a minute";
  const hours = Math.floor(mins / 60);
  return hours ? `${hours}h ${String(mins % 60).padStart(2, "0")}m` : `${mins}m`;
}

/** "5 minutes ago", "3 days ago". */
export function ago(iso) {
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return "just now";
  const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (s >= size) {
      const n = Math.floor(s / size);
      return `${n} ${unit}${n > 1 ? "s" : ""} ago`;
    }
  }
  return "just now";
}

/** A bare wa_id ("5511999999999") as a dialable number ("+5511999999999"). */
export function fmtPhone(waId) {
  if (!waId) return "";
  return "+" + String(waId).replace(/\D/g, "");
}

// ---------------------------------------------------------------- live events

/**
 * Connect to /api/ws and call onEvent({kind, tenant_id, at, payload}) for each push.
 * Reconnects with backoff; onState("on" | "off") drives the "Live" indicator, and a
 * reconnect also calls onState("resync") so the page re-reads what it may have missed.
 */
export function connectEvents(onEvent, onState = () => {}) {
  let delay = 500;
  let everOpen = false;
  function open() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/ws`);
    ws.addEventListener("open", () => {
      delay = 500;
      onState("on");
      if (everOpen) onState("resync");
      everOpen = true;
    });
    ws.addEventListener("message", (e) => {
      try {
        onEvent(JSON.parse(e.data));
      } catch (err) {
        console.error("bad event", err);
      }
    });
    ws.addEventListener("close", (e) => {
      onState("off");
      if (e.code === 4401) {
        refreshSession().then((ok) => (ok ? setTimeout(open, 0) : sessionExpired()));
        return;
      }
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  }
  open();
}

// ---------------------------------------------------------------- shell

export function initShell() {
  applyPermissions();
  const out = document.getElementById("signout");
  if (out) {
    out.addEventListener("click", async () => {
      try {
        await api("/api/auth/logout", { method: "POST" });
      } finally {
        location.assign("/login?signed_out=1");
      }
    });
  }
  const mine = document.querySelector(".rail .avatar");
  if (mine) mine.replaceWith(Object.assign(avatar(me.name, "sm"), { title: mine.title }));
}
