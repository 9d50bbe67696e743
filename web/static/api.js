// Calls to the velotrain REST API on the same origin.

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }

  // Map FastAPI's 422 detail list to {field: message}; "" collects the rest.
  fieldMessages() {
    const messages = {};
    const details = Array.isArray(this.detail) ? this.detail : [{ msg: this.message }];
    for (const item of details) {
      const loc = item.loc || [];
      const field = loc[0] === "body" && loc.length > 1 ? String(loc[1]) : "";
      messages[field] = messages[field] ? `${messages[field]} ${item.msg}` : item.msg;
    }
    return messages;
  }
}

// A server with authentication on needs a project API key on every /jobs and
// /comparisons call. The key lives in this tab's sessionStorage only.
const KEY_STORAGE = "velotrain.apiKey";

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE) || "",
  set: (value) => {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  },
};

async function request(method, path, body) {
  const options = { method, headers: { Accept: "application/json" } };
  if (apiKey.get()) options.headers["X-API-Key"] = apiKey.get();
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new ApiError(response.status, data && data.detail);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("api-key-needed"));
    throw error;
  }
  return data;
}

export const api = {
  catalog: () => request("GET", "/catalog"),
  listJobs: (limit = 50, offset = 0) => request("GET", `/jobs?limit=${limit}&offset=${offset}`),
  job: (id) => request("GET", `/jobs/${id}`),
  history: (id) => request("GET", `/jobs/${id}/history`),
  submitJob: (body) => request("POST", "/jobs", body),
  cancelJob: (id) => request("POST", `/jobs/${id}/cancel`),
  listComparisons: () => request("GET", "/comparisons"),
  comparison: (id) => request("GET", `/comparisons/${id}`),
  createComparison: (body) => request("POST", "/comparisons", body),
};
