// Follow one job through its event stream (GET /jobs/{id}/events), or poll instead
// when the stream keeps failing or cannot carry the API key.

import { apiKey } from "./api.js";

// EventSource reconnects by itself. After this many errors with no event in
// between, the page polls instead.
const STREAM_ERRORS_BEFORE_POLLING = 3;

// handlers: {status(job), epoch(row), end(job)}. startPolling() starts the
// fallback and returns its stop function. Returns a function that stops following.
export function followJob(jobId, handlers, startPolling) {
  // TODO: stream with an API key too. EventSource cannot send headers, so a
  // page that uses a key polls.
  if (apiKey.get() || typeof EventSource === "undefined") return startPolling();
  const source = new EventSource(`/jobs/${jobId}/events`);
  let errors = 0;
  let stopPolling = null;
  const listen = (name, handler) => source.addEventListener(name, (event) => {
    errors = 0;
    handler(JSON.parse(event.data));
  });
  listen("status", handlers.status);
  listen("epoch", handlers.epoch);
  listen("end", (job) => {
    // Without close() the browser would reconnect and replay the job again.
    source.close();
    handlers.end(job);
  });
  source.addEventListener("error", () => {
    errors += 1;
    const closed = source.readyState === EventSource.CLOSED;
    if ((closed || errors >= STREAM_ERRORS_BEFORE_POLLING) && !stopPolling) {
      source.close();
      stopPolling = startPolling();
    }
  });
  return () => {
    source.close();
    if (stopPolling) stopPolling();
  };
}
