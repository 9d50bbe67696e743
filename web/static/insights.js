// A finished job's results beyond its final loss: early stopping, the confusion
// matrix, the cost breakdown and the device fit; and the comparison's cost table.

import { formatBytes, formatDuration, formatNumber, h } from "./dom.js";

function table(id, headers, rows) {
  return h("table", { class: "metrics", id },
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows));
}

function percent(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)} %`;
}

export function earlyStoppingNote(job) {
  if (!job.config.early_stopping) return null;
  const steps = `${job.steps_executed ?? "—"} of ${job.num_steps ?? "—"} planned steps`;
  if (job.stopped_epoch === null) {
    return h("p", { class: "hint", id: "early-stopping" },
      `Early stopping did not trigger (${steps}).`);
  }
  const velo = job.optimizer === "velo"
    ? " VeLO plans its schedule for the number of steps requested, so stopping early "
      + "ends a schedule that was planned for longer."
    : "";
  return h("p", { class: "hint", id: "early-stopping" },
    `Stopped early after epoch ${job.stopped_epoch} and kept the weights of epoch `
    + `${job.best_epoch} (${steps}); the final metrics are those of epoch `
    + `${job.best_epoch}.${velo}`);
}

function confusionTable(report) {
  const names = report.label_names;
  return h("div", { class: "table-wrap" }, table("confusion-matrix",
    ["true \\ predicted", ...names],
    report.confusion_matrix.map((row, i) => h("tr", {},
      h("th", { scope: "row" }, names[i]),
      row.map((count, j) => h("td", { class: i === j ? "hit" : "" }, String(count)))))));
}

function scoresTable(report) {
  return table("class-scores", ["Class", "Precision", "Recall", "F1", "Samples"],
    report.label_names.map((name, i) => h("tr", {},
      h("th", { scope: "row" }, name),
      h("td", {}, formatNumber(report.precision[i], 3)),
      h("td", {}, formatNumber(report.recall[i], 3)),
      h("td", {}, formatNumber(report.f1[i], 3)),
      h("td", {}, String(report.support[i])))));
}

function costTable(cost) {
  const steady = cost.loop_seconds - cost.compile_seconds;
  const share = (seconds) => (steady > 0 ? percent(seconds / steady) : "—");
  const rows = [
    ["Training loop", cost.loop_seconds, ""],
    ["Compilation", cost.compile_seconds, ""],
    ["Gradients", cost.gradient_seconds, share(cost.gradient_seconds)],
    ["Optimizer updates", cost.update_seconds, share(cost.update_seconds)],
    ["Validation", cost.evaluation_seconds, share(cost.evaluation_seconds)],
  ];
  return table("cost-table", ["Part", "Seconds", "Share after compilation"],
    rows.map(([name, seconds, part]) => h("tr", {},
      h("th", { scope: "row" }, name), h("td", {}, formatNumber(seconds, 3)),
      h("td", {}, part))));
}

function costSection(cost) {
  return [
    h("h3", {}, "Cost"),
    costTable(cost),
    h("p", { class: "hint" },
      `Optimizer state ${formatBytes(cost.optimizer_state_bytes)}; peak memory of `
      + `the worker process ${formatBytes(cost.peak_memory_bytes)} (a process peak, `
      + `which earlier jobs of that worker can have set). Method: ${cost.method}.`),
  ];
}

function deviceFitSection(fit) {
  const entries = [["parameters", fit.param_count]];
  if (fit.error) {
    entries.push(["TFLite", `not measured: ${fit.error}`]);
  } else {
    entries.push(
      ["TFLite float32", formatBytes(fit.tflite_float32_bytes)],
      ["TFLite int8", formatBytes(fit.tflite_int8_bytes)],
      ["median latency", `${formatNumber(fit.latency_ms_median, 3)} ms per sample `
        + `(float32, ${fit.latency_runs} runs)`],
      ["measured on", fit.measured_on]);
  }
  return [
    h("h3", {}, "Device fit"),
    h("dl", { class: "config", id: "device-fit" }, entries.flatMap(([key, value]) => [
      h("dt", {}, key), h("dd", {}, value === null ? "—" : String(value))])),
  ];
}

export function insightSections(job) {
  const sections = [];
  if (job.classification) {
    sections.push(h("h3", {}, "Validation predictions per class"),
      confusionTable(job.classification), scoresTable(job.classification));
  }
  if (job.cost) sections.push(...costSection(job.cost));
  if (job.device_fit) sections.push(...deviceFitSection(job.device_fit));
  return sections;
}

export function comparisonCostTable(comparison) {
  const headers = ["Run", "Val loss", "Val acc", "Train time", "Per epoch",
    "Optimizer share", "Optimizer state", "Parameters", "TFLite", "Time ÷ best Adam"];
  return table("cost-comparison", headers, comparison.cost_table.map((row) => h("tr",
    { "data-label": row.label },
    h("th", { scope: "row" }, row.label),
    h("td", {}, formatNumber(row.val_loss)),
    h("td", {}, formatNumber(row.val_accuracy)),
    h("td", {}, formatDuration(row.train_seconds)),
    h("td", {}, row.seconds_per_epoch === null ? "—"
      : `${formatNumber(1000 * row.seconds_per_epoch, 3)} ms`),
    h("td", {}, percent(row.optimizer_share)),
    h("td", {}, row.optimizer_state_bytes === null ? "—"
      : formatBytes(row.optimizer_state_bytes)),
    h("td", {}, row.param_count ?? "—"),
    h("td", {}, row.tflite_float32_bytes === null ? "—"
      : formatBytes(row.tflite_float32_bytes)),
    h("td", {}, row.time_ratio_to_best_adam === null ? "—"
      : `${formatNumber(row.time_ratio_to_best_adam, 3)}×`))));
}

export function timeRatioText(comparison, label) {
  const row = comparison.cost_table.find((r) => r.label === label);
  if (!row || row.time_ratio_to_best_adam === null) return "";
  return ` It took ${formatNumber(row.time_ratio_to_best_adam, 2)}× the best Adam `
    + "run's training time.";
}
