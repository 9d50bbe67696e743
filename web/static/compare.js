// Comparison pages: every run's loss curves on one chart and the final-metrics table.

import { api } from "./api.js";
import { lineChart, PALETTE } from "./chart.js";
import {
  formatDuration, formatNumber, formatTime, h, statusBadge,
} from "./dom.js";
import { comparisonCostTable, timeRatioText } from "./insights.js";
import { poll } from "./poll.js";

const INTERVAL_MS = 1500;
// Beyond this spread of losses a linear axis flattens the lower curves.
const LOG_SCALE_SPREAD = 20;

function runColors(runs) {
  let next = 1;
  return new Map(runs.map((run) => [run.label,
    run.optimizer === "velo" ? PALETTE[0] : PALETTE[next++ % PALETTE.length]]));
}

function lossSeries(runs, colors) {
  return runs.flatMap((run) => {
    const points = (key) => run.history.map((row) => [row.epoch, row[key]]);
    const color = colors.get(run.label);
    return [
      { name: `${run.label} training`, color, points: points("loss") },
      { name: `${run.label} validation`, color, dashed: true, points: points("val_loss") },
    ];
  });
}

function lossSpread(runs) {
  const values = runs.flatMap((run) => run.history.flatMap((r) => [r.loss, r.val_loss]))
    .filter((v) => v !== null && v > 0);
  return values.length ? Math.max(...values) / Math.min(...values) : 1;
}

function verdict(comparison) {
  const velo = comparison.runs.find((run) => run.optimizer === "velo");
  const done = comparison.runs.filter((run) => ["succeeded", "failed", "cancelled"]
    .includes(run.status)).length;
  if (!comparison.finished) {
    return `Training: ${done} of ${comparison.runs.length} runs ended.`;
  }
  if (!velo) return "No VeLO run in this comparison.";
  if (velo.status !== "succeeded") {
    const best = comparison.table.find((r) => r.label === comparison.best_adam_label);
    const bestText = best ? ` Best Adam: ${best.label}, final training loss ` +
      `${formatNumber(best.loss)}.` : "";
    const reason = velo.failure_reason ? " (reason under Runs)" : "";
    return `VeLO ${velo.status}${reason}, so there is no ratio to show.${bestText}`;
  }
  const row = comparison.table.find((r) => r.label === velo.label);
  if (!comparison.best_adam_label || row.loss_ratio_to_best_adam === null) {
    return "No Adam run succeeded, so there is no best rate to compare with.";
  }
  const ratio = row.loss_ratio_to_best_adam;
  const word = ratio <= 1 ? "matches or beats" : "trails";
  return `VeLO ${word} the best Adam rate (${comparison.best_adam_label}): its final ` +
    `training loss is ${formatNumber(ratio, 3)}× Adam's.${timeRatioText(comparison, velo.label)}`;
}

function runsTable(comparison, colors) {
  return h("table", { class: "runs", id: "runs-table" },
    h("thead", {}, h("tr", {}, ["Run", "Job", "Status", "Progress", "Duration", "Reason"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, comparison.runs.map((run) => h("tr", { "data-label": run.label },
      h("td", {}, h("span", { class: "swatch", style: `background:${colors.get(run.label)}` }),
        run.label),
      h("td", {}, h("a", { href: `#/jobs/${run.job_id}` }, `#${run.job_id}`)),
      h("td", {}, statusBadge(run.status)),
      h("td", {}, h("progress", { max: run.progress.epochs_total,
        value: run.progress.epochs_done, "aria-label": `${run.label} progress` }),
      ` ${run.progress.epochs_done}/${run.progress.epochs_total}`),
      h("td", {}, formatDuration(run.duration_seconds)),
      h("td", { class: "reason" }, run.failure_reason || "")))));
}

function finalTable(comparison) {
  const best = comparison.best_adam_label;
  const headers = ["Run", "Status", "Train loss", "Val loss", "Train acc", "Val acc",
    "Train time", "Loss ÷ best Adam"];
  return h("table", { class: "metrics", id: "final-table" },
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, comparison.table.map((row) => {
      const isBest = row.label === best;
      const isVelo = row.label.startsWith("velo");
      return h("tr", { class: [isBest ? "best" : "", isVelo ? "velo" : ""].join(" ").trim(),
        "data-label": row.label },
      h("th", { scope: "row" }, row.label, isBest ? h("span", { class: "tag" }, "best Adam") : null),
      h("td", {}, row.status),
      h("td", {}, formatNumber(row.loss)),
      h("td", {}, formatNumber(row.val_loss)),
      h("td", {}, formatNumber(row.accuracy)),
      h("td", {}, formatNumber(row.val_accuracy)),
      h("td", {}, formatDuration(row.train_seconds)),
      h("td", {}, row.loss_ratio_to_best_adam === null ? "—"
        : `${formatNumber(row.loss_ratio_to_best_adam, 3)}×`));
    })));
}

export class ComparisonPage {
  constructor(comparisonId) {
    this.id = comparisonId;
    this.logChoice = null;
    this.heading = h("h2", { id: "comparison-title", tabindex: -1 }, `Comparison ${comparisonId}`);
    this.verdict = h("p", { class: "verdict", id: "verdict", "aria-live": "polite" });
    this.logBox = h("input", { type: "checkbox", id: "log-scale",
      onchange: () => { this.logChoice = this.logBox.checked; this.draw(); } });
    this.body = h("div", {});
    this.element = h("section", { class: "card" },
      h("p", {}, h("a", { href: "#/comparisons" }, "← All comparisons")),
      this.heading, this.verdict,
      h("label", { class: "check" }, this.logBox, " Logarithmic loss axis"), this.body);
  }

  start() {
    return poll(async () => {
      this.comparison = await api.comparison(this.id);
      this.draw();
      return !this.comparison.finished;
    }, INTERVAL_MS);
  }

  draw() {
    const comparison = this.comparison;
    const colors = runColors(comparison.runs);
    const name = comparison.name ? `: ${comparison.name}` : "";
    this.heading.textContent = `Comparison ${comparison.id}${name}`;
    this.verdict.textContent = verdict(comparison);
    const logY = this.logChoice ?? lossSpread(comparison.runs) > LOG_SCALE_SPREAD;
    this.logBox.checked = logY;
    const total = Math.max(...comparison.runs.map((run) => run.progress.epochs_total));
    this.body.replaceChildren(
      h("div", { id: "comparison-chart" }, lineChart(lossSeries(comparison.runs, colors), {
        title: "Training (solid) and validation (dashed) loss per epoch",
        xLabel: "epoch", yLabel: "loss", logY, xMax: total, width: 900, height: 380 })),
      h("h3", {}, "Final metrics"), finalTable(comparison),
      h("h3", {}, "Cost and size"), comparisonCostTable(comparison),
      h("h3", {}, "Runs"), runsTable(comparison, colors));
  }
}

export class ComparisonList {
  constructor() {
    this.body = h("tbody", {});
    this.empty = h("p", { class: "hint" },
      "No comparisons yet. Use “Compare with Adam” on the training form, or select jobs in the list.");
    this.element = h("section", { class: "card", "aria-labelledby": "comparisons-title" },
      h("h2", { id: "comparisons-title", tabindex: -1 }, "Comparisons"),
      h("div", { class: "table-wrap" }, h("table", { class: "jobs", id: "comparisons-table" },
        h("thead", {}, h("tr", {}, ["Comparison", "Runs", "Created"]
          .map((t) => h("th", { scope: "col" }, t)))), this.body)),
      this.empty);
  }

  start() {
    return poll(async () => {
      const page = await api.listComparisons();
      this.empty.hidden = page.items.length > 0;
      this.body.replaceChildren(...page.items.map((item) => h("tr", {},
        h("td", {}, h("a", { href: `#/comparisons/${item.id}` },
          `#${item.id} ${item.name || (item.kind === "sweep" ? "VeLO vs Adam sweep" : "chosen jobs")}`)),
        h("td", {}, item.runs.map((run) => h("span", { class: "run-chip" },
          run.label, " ", statusBadge(run.status)))),
        h("td", {}, formatTime(item.created_at)))));
    }, INTERVAL_MS * 2);
  }
}
