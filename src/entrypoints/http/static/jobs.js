// Job monitor: queue depths by kind, the running / retrying / dead jobs (retry or discard
// a dead one), refreshed every few seconds; and a background contact export.
import { ago, api, can, fmtFull, h, initShell, toast } from "./api.js";

initShell();

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 4000;
const STATUS_PILL = { queued: "gray", running: "blue", retrying: "amber", dead: "red", done: "green" };
let paused = false;
let timer = null;

const when = (iso) => (iso ? h("span", { title: fmtFull(iso) }, ago(iso)) : h("span.faint", "—"));
const num = (n) => h("td.num", n ? String(n) : h("span.faint", "0"));

function renderDepths(depths) {
  $("depths-body").replaceChildren(...(depths.length
    ? depths.map((d) => h("tr", { dataset: { kind: d.kind } },
      h("td", h("code", d.kind)), num(d.queued), num(d.running), num(d.retrying), num(d.dead)))
    : [h("tr", h("td.faint", { colspan: 5 }, "All queues are empty."))]));
}

function actions(job) {
  if (job.status !== "dead" || !can("job.manage")) return null;
  return h("span.row",
    h("button.small", { type: "button", onclick: () => act(job, "retry") }, "Retry"),
    h("button.small.danger", { type: "button", onclick: () => act(job, "discard") }, "Discard"));
}

function renderJobs(jobs) {
  $("jobs-body").replaceChildren(...(jobs.length
    ? jobs.map((j) => h("tr", { dataset: { job: j.id, status: j.status } },
      h("td", h("code", j.kind), h("div.small.faint.mono", j.id)),
      h("td", h(`span.pill.${STATUS_PILL[j.status] || "gray"}`, j.status)),
      h("td.num", String(j.attempts)),
      h("td", j.status === "running" ? (j.outcome || h("span.faint", "started")) : (j.last_error || h("span.faint", "—"))),
      h("td", j.correlation_id ? h("span.mono.small", j.correlation_id) : h("span.faint", "—")),
      h("td", when(j.created_at)),
      h("td", when(j.next_run_at)),
      h("td.num", actions(j))))
    : [h("tr", h("td.faint", { colspan: 8 }, "No jobs to show."))]));
}

async function refresh() {
  clearTimeout(timer);
  try {
    const status = $("jobs-filter").value;
    const data = await api(`/api/jobs?limit=200${status ? `&status=${status}` : ""}`);
    renderDepths(data.depths);
    renderJobs(data.jobs);
    $("jobs-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("jobs-updated").textContent = err.message;
  }
  if (!paused) timer = setTimeout(refresh, REFRESH_MS);
}

async function act(job, verb) {
  const question = verb === "retry"
    ? `Run this ${job.kind} job again from its first attempt?`
    : `Discard this ${job.kind} job for good? It will not run again.`;
  if (!confirm(question)) return;
  try {
    if (verb === "retry") await api(`/api/jobs/${job.id}/retry`, { method: "POST" });
    else await api(`/api/jobs/${job.id}`, { method: "DELETE" });
    toast(verb === "retry" ? "Queued again" : "Discarded");
  } catch (err) {
    toast(err.message, "error");
  }
  refresh();
}

// ------------------------------------------------------------------ export

async function followExport(id) {
  const box = $("export-status");
  try {
    const e = await api(`/api/exports/${id}`);
    const rows = e.rows_total != null ? ` ${e.rows_done} of ${e.rows_total} rows` : "";
    if (e.status === "ready") {
      box.replaceChildren(h("span", `Ready:${rows}. `), h("a", { href: e.download_url, download: e.filename }, `Download ${e.filename}`));
      return;
    }
    if (e.status === "failed") {
      box.replaceChildren(h("span.error-text", `The export failed: ${e.error || "unknown error"}`));
      return;
    }
    box.textContent = `${e.status}…${rows}`;
  } catch (err) {
    box.textContent = err.message;
    return;
  }
  setTimeout(() => followExport(id), 1500);
}

async function startExport(format) {
  try {
    const accepted = await api("/api/exports", { method: "POST", body: { kind: "contacts", format } });
    $("export-status").textContent = "queued…";
    followExport(accepted.id);
    refresh();
  } catch (err) {
    toast(err.message, "error");
  }
}

if ($("depths-body")) {
  $("jobs-filter").addEventListener("change", refresh);
  $("jobs-pause").addEventListener("click", (e) => {
    paused = !paused;
    e.target.textContent = paused ? "Resume" : "Pause";
    e.target.setAttribute("aria-pressed", String(paused));
    if (!paused) refresh();
    else clearTimeout(timer);
  });
  for (const id of ["export-contacts", "export-contacts-json"]) {
    const button = $(id);
    if (button) button.addEventListener("click", () => startExport(button.dataset.format));
  }
  refresh();
} else {
  $("jobs-pause").hidden = true;
}
