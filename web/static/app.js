// The studio page: a hash router over the training form, job and comparison views.

import { api, apiKey } from "./api.js";
import { ComparisonList, ComparisonPage } from "./compare.js";
import { h } from "./dom.js";
import { TrainingForm } from "./form.js";
import { JobList, JobPage } from "./jobs.js";

const view = document.getElementById("view");
let catalogPromise = null;
let stopView = () => {};

function catalog() {
  catalogPromise = catalogPromise || api.catalog();
  return catalogPromise;
}

async function home() {
  const form = new TrainingForm(await catalog());
  const list = new JobList();
  view.replaceChildren(h("div", { class: "home" }, form.element, list.element));
  return list.start();
}

function page(component) {
  view.replaceChildren(component.element);
  component.element.querySelector("h2")?.focus();
  return component.start();
}

const ROUTES = [
  [/^#?\/?$/, "train", home],
  [/^#\/jobs\/(\d+)$/, "train", (id) => page(new JobPage(Number(id)))],
  [/^#\/comparisons$/, "comparisons", () => page(new ComparisonList())],
  [/^#\/comparisons\/(\d+)$/, "comparisons", (id) => page(new ComparisonPage(Number(id)))],
];

async function route() {
  stopView();
  stopView = () => {};
  const match = ROUTES.find(([pattern]) => pattern.test(location.hash));
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", match && link.dataset.nav === match[1]);
  }
  if (!match) {
    view.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Page not found"),
      h("p", {}, h("a", { href: "#/" }, "Back to training"))));
    return;
  }
  try {
    stopView = await match[2](...location.hash.match(match[0]).slice(1));
  } catch (error) {
    view.replaceChildren(h("section", { class: "card" }, h("h2", {}, "Could not load"),
      h("p", { class: "form-error", role: "alert" }, error.message)));
  }
}

// Ask for a project API key when the server returns 401, then reload the view.
function keyDialog() {
  const input = h("input", { type: "password", id: "api-key", autocomplete: "off" });
  const dialog = h("dialog", { class: "card key-dialog", "aria-labelledby": "key-title" },
    h("form", { method: "dialog", onsubmit: () => { apiKey.set(input.value.trim()); route(); } },
      h("h2", { id: "key-title" }, "API key needed"),
      h("p", {}, "This server requires a project API key. Create one with ",
        h("code", {}, "velotrain keys create --project NAME"), "."),
      h("label", { for: "api-key" }, "API key"), input,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Use key"))));
  document.body.append(dialog);
  return dialog;
}

let dialog = null;
window.addEventListener("api-key-needed", () => {
  dialog = dialog || keyDialog();
  if (!dialog.open) dialog.showModal();
});
window.addEventListener("hashchange", route);
route();
