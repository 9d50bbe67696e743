// The training form: dataset, model, epochs, batch size, device, VeLO switch, and
// the "Compare with Adam" action.

import { api, ApiError } from "./api.js";
import { formatBytes, h } from "./dom.js";
import { fullBatchMemory } from "./memory.js";

const FIELDS = ["name", "dataset", "model", "hidden_sizes", "epochs", "batch_size",
  "seed", "device", "use_velo", "learning_rate"];
const DEVICES = [["cpu", "CPU"], ["gpu", "GPU"]];

function field(name, labelText, control, hint) {
  control.id = `field-${name}`;
  control.name = name;
  control.setAttribute("aria-describedby", `error-${name}${hint ? ` hint-${name}` : ""}`);
  return h("div", { class: "field", "data-field": name },
    h("label", { for: control.id }, labelText),
    control,
    hint ? h("p", { class: "hint", id: `hint-${name}` }, hint) : null,
    h("p", { class: "field-error", id: `error-${name}`, "aria-live": "polite" }));
}

function options(items, selected) {
  return items.map(([value, text]) => h("option", { value, selected: value === selected }, text));
}

function datasetText(d) {
  const target = d.num_classes ? `${d.num_classes} classes` : "regression";
  return `${d.name} — ${d.num_samples} samples, ${d.num_features} features, ${target}`;
}

function buildControls(catalog) {
  const d = catalog.defaults;
  return {
    name: h("input", { type: "text", maxLength: 200, placeholder: "optional" }),
    dataset: h("select", {}, options(catalog.datasets.map((x) => [x.name, datasetText(x)]), d.dataset)),
    model: h("select", {}),
    hidden_sizes: h("input", { type: "text", value: d.hidden_sizes.join(", "), inputMode: "numeric" }),
    epochs: h("input", { type: "number", min: 1, max: catalog.max_epochs, value: d.epochs }),
    fullBatch: h("input", { type: "checkbox", id: "field-full-batch", checked: d.batch_size === "full" }),
    batch_size: h("input", { type: "number", min: 1, value: 32 }),
    seed: h("input", { type: "number", min: 0, value: d.seed }),
    device: h("select", {}, options(DEVICES, catalog.default_device)),
    use_velo: h("input", { type: "checkbox", role: "switch", class: "switch",
      id: "field-use_velo", name: "use_velo", "aria-describedby": "error-use_velo" }),
    learning_rate: h("input", { type: "number", min: 0, step: "any", value: d.learning_rate }),
  };
}

function numberOrRaw(input) {
  return Number.isNaN(input.valueAsNumber) ? input.value : input.valueAsNumber;
}

function parseHiddenSizes(text) {
  const parts = text.split(",").map((s) => s.trim()).filter(Boolean);
  return parts.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export class TrainingForm {
  constructor(catalog) {
    this.catalog = catalog;
    this.c = buildControls(catalog);
    this.element = this.render();
    this.refresh();
  }

  dataset() {
    return this.catalog.datasets.find((d) => d.name === this.c.dataset.value);
  }

  render() {
    const c = this.c;
    for (const input of [c.dataset, c.model, c.hidden_sizes, c.use_velo, c.fullBatch]) {
      input.addEventListener("input", () => this.refresh());
    }
    this.veloNote = h("div", { class: "velo-note", id: "velo-note", "aria-live": "polite" });
    this.lrReason = h("p", { class: "lr-reason", id: "lr-reason" },
      "No learning rate with VeLO: it sets its own step sizes.");
    this.generalError = h("p", { class: "form-error", id: "form-error", role: "alert" });
    this.compareButton = h("button", { type: "button", class: "secondary", id: "compare-button",
      onclick: () => this.compare() }, "Compare with Adam");
    const rates = this.catalog.comparison_learning_rates.join(", ");
    return h("form", { class: "card training-form", novalidate: true, "aria-labelledby": "form-title",
      onsubmit: (event) => { event.preventDefault(); this.submit(); } },
      h("h2", { id: "form-title" }, "Train a model"),
      h("div", { class: "grid" },
        field("dataset", "Dataset", c.dataset),
        field("model", "Model preset", c.model),
        field("hidden_sizes", "Hidden layer widths", c.hidden_sizes, "Comma separated, mlp only"),
        field("epochs", "Epochs", c.epochs, `1 to ${this.catalog.max_epochs}`),
        h("div", { class: "field", "data-field": "batch_size" },
          h("label", { for: "field-batch_size" }, "Batch size"),
          h("div", { class: "inline" }, this.namedBatch(c.batch_size),
            h("label", { class: "check" }, c.fullBatch, " Full batch")),
          h("p", { class: "field-error", id: "error-batch_size", "aria-live": "polite" })),
        field("seed", "Seed", c.seed),
        field("device", "Device", c.device, `Server default: ${c.device.value}. ` +
          "A job stays queued until a worker for its device runs."),
        field("name", "Job name", c.name)),
      h("div", { class: "velo-row" },
        h("label", { class: "switch-label", for: "field-use_velo" },
          h("span", { class: "switch-box" }, c.use_velo,
            h("span", { class: "switch-track", "aria-hidden": "true" })),
          " Learned optimizer (VeLO)"),
        h("p", { class: "field-error", id: "error-use_velo" })),
      this.veloNote,
      h("div", { class: "field lr-field", "data-field": "learning_rate" },
        h("label", { for: "field-learning_rate" }, "Adam learning rate"),
        this.namedInput("learning_rate", c.learning_rate),
        h("p", { class: "field-error", id: "error-learning_rate", "aria-live": "polite" })),
      this.lrReason,
      this.generalError,
      h("div", { class: "actions" },
        h("button", { type: "submit", id: "submit-button" }, "Start training"),
        this.compareButton,
        h("p", { class: "hint" }, `Compare starts one VeLO job and Adam jobs at ${rates} ` +
          "with this dataset, model, epochs, batch size, seed and device.")));
  }

  namedBatch(input) {
    return this.namedInput("batch_size", input);
  }

  namedInput(name, input) {
    input.id = `field-${name}`;
    input.name = name;
    input.setAttribute("aria-describedby", `error-${name}`);
    return input;
  }

  refresh() {
    const c = this.c;
    const dataset = this.dataset();
    const previous = c.model.value || this.catalog.defaults.model;
    c.model.replaceChildren(...options(
      dataset.models.map((name) => [name, this.modelText(name)]),
      dataset.models.includes(previous) ? previous : dataset.models[0]));
    c.hidden_sizes.disabled = c.model.value !== "mlp";
    c.batch_size.disabled = c.fullBatch.checked;
    const velo = c.use_velo.checked;
    c.use_velo.setAttribute("aria-checked", String(velo));
    c.learning_rate.disabled = velo;
    this.element.querySelector(".lr-field").hidden = velo;
    this.lrReason.hidden = !velo;
    this.renderVeloNote(velo, dataset);
  }

  modelText(name) {
    const preset = this.catalog.models.find((m) => m.name === name);
    return `${name} — ${preset.description}`;
  }

  renderVeloNote(velo, dataset) {
    this.veloNote.replaceChildren();
    if (!velo) return;
    const hidden = parseHiddenSizes(this.c.hidden_sizes.value).filter(Number.isInteger);
    const sizes = hidden.length ? hidden : this.catalog.defaults.hidden_sizes;
    const memory = fullBatchMemory(dataset, this.c.model.value, sizes);
    const useFullBatch = h("button", { type: "button", class: "link",
      onclick: () => { this.c.fullBatch.checked = true; this.refresh(); } }, "Use full batch");
    this.veloNote.append(
      h("p", {}, h("strong", {}, "Full batch suggested"),
        `: one step per epoch on all ${dataset.train_size} training samples needs about `,
        h("strong", { id: "memory-estimate" }, formatBytes(memory.total)), "."),
      h("p", { class: "formula" }, `Estimate = ${memory.formula}.`),
      ...(this.c.fullBatch.checked ? [] : [useFullBatch]),
      h("p", {}, "VeLO costs more compute per step than Adam: at every step it runs a " +
        "learned network over each parameter tensor, where Adam does a few arithmetic " +
        "operations per parameter."));
  }

  body() {
    const c = this.c;
    const body = {
      dataset: c.dataset.value,
      model: c.model.value,
      epochs: numberOrRaw(c.epochs),
      batch_size: c.fullBatch.checked ? "full" : numberOrRaw(c.batch_size),
      seed: numberOrRaw(c.seed),
      device: c.device.value,
    };
    if (c.model.value === "mlp" && c.hidden_sizes.value.trim()) {
      body.hidden_sizes = parseHiddenSizes(c.hidden_sizes.value);
    }
    return body;
  }

  jobBody() {
    const c = this.c;
    const body = { ...this.body(), use_velo: c.use_velo.checked };
    if (!c.use_velo.checked) body.learning_rate = numberOrRaw(c.learning_rate);
    if (c.name.value.trim()) body.name = c.name.value.trim();
    return body;
  }

  showErrors(error) {
    for (const name of FIELDS) this.element.querySelector(`#error-${name}`).textContent = "";
    this.generalError.textContent = "";
    if (!error) return;
    const messages = error instanceof ApiError ? error.fieldMessages() : { "": String(error) };
    for (const [name, message] of Object.entries(messages)) {
      const slot = FIELDS.includes(name) ? this.element.querySelector(`#error-${name}`) : null;
      if (slot) slot.textContent = message;
      else this.generalError.textContent += `${name ? `${name}: ` : ""}${message} `;
    }
  }

  async run(action, target) {
    this.showErrors(null);
    try {
      const created = await action();
      location.hash = `#/${target}/${created.id}`;
    } catch (error) {
      this.showErrors(error);
    }
  }

  submit() {
    return this.run(() => api.submitJob(this.jobBody()), "jobs");
  }

  compare() {
    const body = this.body();
    if (this.c.name.value.trim()) body.name = this.c.name.value.trim();
    return this.run(() => api.createComparison(body), "comparisons");
  }
}
