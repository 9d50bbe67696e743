// The job list (updates itself) and the job page with live curves.

import { api, ApiError } from "./api.js";
import { lineChart } from "./chart.js";
import {
  formatDuration, formatNumber, formatTime, h, statusBadge,
} from "./dom.js";
import { followJob } from "./follow.js";
import { earlyStoppingNote, insightSections } from "./insights.js";
import { poll, TERMINAL } from "./poll.js";

const LIST_INTERVAL_MS = 2000;
const JOB_INTERVAL_MS = 1000;
const PAGE_SIZE = 50;

function optimizerText(job) {
  if (job.optimizer === "velo") return "VeLO";
  return `Adam, lr ${formatNumber(job.config.learning_rate)}`;
}

function progressBar(job) {
  const { epochs_done: done, epochs_total: total } = job.progress;
  return h("span", { class: "progress" },
    h("progress", { max: total, value: done, "aria-label": `Job ${job.id} progress` }),
    ` ${done}/${total}`);
}

function jobTitle(job) {
  return job.name || `${job.config.dataset} / ${job.config.model}`;
}

export class JobList {
  constructor() {
    this.selected = new Set();
    this.rows = new Map();
    this.offset = 0;
    this.loads = 0;
    this.body = h("tbody", {});
    this.error = h("p", { class: "form-error", id: "compare-error", role: "alert" });
    this.compareButton = h("button", { type: "button", class: "secondary", disabled: true,
      id: "compare-selected", onclick: () => this.compareSelected() }, "Compare selected");
    this.empty = h("p", { class: "hint" }, "No jobs yet.");
    this.newerButton = h("button", { type: "button", class: "secondary", id: "jobs-newer",
      disabled: true, onclick: () => this.turnPage(-PAGE_SIZE) }, "Newer");
    this.olderButton = h("button", { type: "button", class: "secondary", id: "jobs-older",
      disabled: true, onclick: () => this.turnPage(PAGE_SIZE) }, "Older");
    this.range = h("span", { class: "hint", id: "jobs-range" });
    this.pager = h("nav", { class: "pager", "aria-label": "Job list pages", hidden: true },
      this.newerButton, this.range, this.olderButton);
    this.element = h("section", { class: "card", "aria-labelledby": "jobs-title" },
      h("div", { class: "section-head" }, h("h2", { id: "jobs-title" }, "Jobs"),
        this.compareButton),
      this.error,
      h("div", { class: "table-wrap" }, h("table", { class: "jobs", id: "jobs-table" },
        h("thead", {}, h("tr", {}, ["", "Job", "Status", "Optimizer", "Device",
          "Weights", "Progress", "Duration", "Created"].map((t) => h("th", { scope: "col" }, t)))),
        this.body)),
      this.empty, this.pager);
  }

  start() {
    return poll(() => this.load(), LIST_INTERVAL_MS);
  }

  // Only the newest request may draw, so a slow poll cannot undo a page turn.
  async load() {
    const load = ++this.loads;
    const page = await api.listJobs(PAGE_SIZE, this.offset);
    if (load !== this.loads) return;
    if (page.items.length === 0 && this.offset > 0) {
      this.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      await this.load();
      return;
    }
    this.update(page.items);
    this.showRange(page);
  }

  async turnPage(step) {
    this.offset = Math.max(0, this.offset + step);
    try {
      await this.load();
    } catch (error) {
      this.error.textContent = String(error);
    }
  }

  showRange({ items, total, offset }) {
    const text = `${offset + 1}-${offset + items.length} of ${total}`;
    if (this.range.textContent !== text) this.range.textContent = text;
    this.pager.hidden = total === 0;
    const focused = [this.newerButton, this.olderButton].includes(document.activeElement);
    this.newerButton.disabled = offset === 0;
    this.olderButton.disabled = offset + items.length >= total;
    // A disabled button drops the keyboard focus, so hand it to the other one.
    if (focused && document.activeElement?.disabled !== false) {
      (this.newerButton.disabled ? this.olderButton : this.newerButton).focus();
    }
  }

  update(jobs) {
    this.empty.hidden = jobs.length > 0;
    const rows = jobs.map((job) => this.row(job));
    const current = [...this.body.children];
    if (rows.length !== current.length || rows.some((row, i) => row !== current[i])) {
      this.body.replaceChildren(...rows);
    }
  }

  row(job) {
    let row = this.rows.get(job.id);
    if (!row) {
      const box = h("input", { type: "checkbox",
        onchange: () => this.toggle(job.id, box.checked) });
      const label = h("label", { class: "row-select" }, box,
        h("span", { class: "sr-only" }, `Select job ${job.id} to compare`));
      row = h("tr", { "data-job-id": job.id }, h("td", {}, label),
        h("td", {}, h("a", { href: `#/jobs/${job.id}` }, `#${job.id} `, jobTitle(job))),
        h("td", {}), h("td", {}, optimizerText(job)), h("td", {}, job.device),
        h("td", {}), h("td", {}), h("td", {}), h("td", {}, formatTime(job.created_at)));
      this.rows.set(job.id, row);
    }
    const cells = row.children;
    cells[2].replaceChildren(statusBadge(job.status));
    cells[5].textContent = job.weights_name || (job.optimizer === "velo" ? "—" : "n/a");
    cells[6].replaceChildren(progressBar(job));
    cells[7].textContent = formatDuration(job.duration_seconds);
    return row;
  }

  toggle(jobId, checked) {
    if (checked) this.selected.add(jobId);
    else this.selected.delete(jobId);
    const count = this.selected.size;
    this.compareButton.disabled = count < 2;
    this.compareButton.textContent = count ? `Compare selected (${count})` : "Compare selected";
  }

  async compareSelected() {
    this.error.textContent = "";
    try {
      const created = await api.createComparison({ job_ids: [...this.selected] });
      location.hash = `#/comparisons/${created.id}`;
    } catch (error) {
      const messages = error instanceof ApiError ? error.fieldMessages() : {};
      this.error.textContent = Object.values(messages).join(" ") || String(error);
    }
  }
}

function lossChart(epochs, total, emptyText) {
  const xs = (key) => epochs.map((row) => [row.epoch, row[key]]);
  return lineChart([
    { name: "training loss", color: "#1f77b4", points: xs("loss") },
    { name: "validation loss", color: "#ff7f0e", dashed: true, points: xs("val_loss") },
  ], { title: "Loss per epoch", xLabel: "epoch", yLabel: "loss", xMax: total, emptyText });
}

// Text of an empty chart. A job that ended without a finished epoch gets no more epochs.
function emptyChartText(job) {
  if (!TERMINAL.includes(job.status)) return undefined;
  return job.status === "failed"
    ? "No epoch finished before the job failed" : "No epoch finished";
}

function accuracyChart(epochs, total) {
  const xs = (key) => epochs.map((row) => [row.epoch, row[key]]);
  return lineChart([
    { name: "training accuracy", color: "#2ca02c", points: xs("accuracy") },
    { name: "validation accuracy", color: "#9467bd", dashed: true, points: xs("val_accuracy") },
  ], { title: "Accuracy per epoch", xLabel: "epoch", yLabel: "accuracy", xMax: total });
}

function configText(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function definitionList(entries) {
  return h("dl", { class: "config" }, entries.flatMap(([key, value]) => [
    h("dt", {}, key), h("dd", {}, configText(value)),
  ]));
}

function metricsTable(metrics) {
  const keys = ["loss", "val_loss", "accuracy", "val_accuracy"].filter((k) => k in metrics);
  return h("table", { class: "metrics", id: "final-metrics" },
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col" }, k)))),
    h("tbody", {}, h("tr", {}, keys.map((k) => h("td", {}, formatNumber(metrics[k]))))));
}

export class JobPage {
  constructor(jobId) {
    this.jobId = jobId;
    this.job = null;
    this.epochs = [];
    this.renderPending = false;
    this.heading = h("h2", { id: "job-title", tabindex: -1 }, `Job ${jobId}`);
    this.summary = h("div", { class: "job-summary", "aria-live": "polite" });
    this.cancelButton = h("button", { type: "button", class: "danger", id: "cancel-button",
      onclick: () => this.cancel() }, "Cancel");
    this.failure = h("div", { class: "failure", role: "alert", id: "failure", hidden: true });
    this.charts = h("div", { class: "charts", id: "job-charts" });
    this.details = h("div", { class: "details" });
    this.element = h("section", { class: "card" },
      h("p", {}, h("a", { href: "#/" }, "← All jobs")),
      h("div", { class: "section-head" }, this.heading, this.cancelButton),
      this.summary, this.failure, this.charts, this.details);
  }

  start() {
    return followJob(this.jobId, {
      status: (job) => this.showJob(job),
      epoch: (row) => this.addEpoch(row),
      end: (job) => this.showJob(job),
    }, () => poll(() => this.refresh(), JOB_INTERVAL_MS));
  }

  async refresh() {
    const [job, history] = await Promise.all([
      api.job(this.jobId), api.history(this.jobId)]);
    this.job = job;
    this.epochs = history.epochs;
    this.render(job, history.epochs);
    return !TERMINAL.includes(job.status);
  }

  showJob(job) {
    // A requeued job starts again from epoch 1, and the stream sends its epochs anew.
    if (this.job && job.attempt !== this.job.attempt) this.epochs = [];
    this.job = job;
    this.scheduleRender();
  }

  addEpoch(row) {
    const last = this.epochs.at(-1);
    if (last && row.epoch <= last.epoch) return;
    this.epochs.push(row);
    this.scheduleRender();
  }

  // Draw once per frame: a finished job replays all of its epochs at once.
  scheduleRender() {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => {
      this.renderPending = false;
      this.render(this.job, this.epochs);
    });
  }

  render(job, epochs) {
    this.heading.textContent = `Job ${job.id}: ${jobTitle(job)}`;
    this.summary.replaceChildren(statusBadge(job.status), " ", optimizerText(job), " · ",
      progressBar(job), " · ", formatDuration(job.duration_seconds),
      job.cancel_requested && job.status === "running" ? " · stopping after this epoch" : "");
    this.cancelButton.disabled = TERMINAL.includes(job.status) || job.cancel_requested;
    this.failure.hidden = !job.failure_reason;
    this.failure.textContent = job.failure_reason ? `Failed: ${job.failure_reason}` : "";
    const total = job.progress.epochs_total;
    const classification = epochs.some((row) => row.accuracy !== null);
    const charts = [lossChart(epochs, total, emptyChartText(job))];
    if (classification) charts.push(accuracyChart(epochs, total));
    this.charts.replaceChildren(...charts);
    this.details.replaceChildren(
      h("h3", {}, "Final metrics"),
      job.final_metrics ? metricsTable(job.final_metrics) : h("p", { class: "hint" },
        TERMINAL.includes(job.status) ? "None recorded." : "Available when training ends."),
      // replaceChildren, unlike h(), writes a null child as the text "null".
      earlyStoppingNote(job) ?? "",
      ...insightSections(job),
      h("h3", {}, "Resolved configuration"),
      definitionList([...Object.entries(job.config),
        ["weights", job.weights_name], ["weights sha256", job.weights_sha256],
        ["steps planned", job.num_steps], ["steps executed", job.steps_executed],
        ["worker", job.worker], ["attempt", job.attempt],
        ["created", formatTime(job.created_at)], ["started", formatTime(job.started_at)],
        ["finished", formatTime(job.finished_at)]]));
  }

  async cancel() {
    this.cancelButton.disabled = true;
    try {
      await api.cancelJob(this.jobId);
    } catch (error) {
      this.failure.hidden = false;
      this.failure.textContent = error.message;
    }
    await this.refresh();
  }
}
