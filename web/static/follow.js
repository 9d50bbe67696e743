// Follow one job through its event stream (GET /jobs/{id}/events), or poll instead
// when the stream keeps failing. The stream is read with fetch rather than
// EventSource, because EventSource cannot send the X-API-Key header.

import { apiKey } from "./api.js";

// After this many failed or dropped connections with no event in between, the
// page polls instead.
const STREAM_ERRORS_BEFORE_POLLING = 3;
const RECONNECT_MS = 3000;

class StreamRefused extends Error {}

// handlers: {status(job), epoch(row), end(job)}. startPolling() starts the
// fallback and returns its stop function. Returns a function that stops following.
export function followJob(jobId, handlers, startPolling) {
  if (typeof ReadableStream === "undefined" || typeof TextDecoderStream === "undefined") {
    return startPolling();
  }
  const controller = new AbortController();
  const state = { lastEventId: null, errors: 0, ended: false, stopPolling: null };

  const dispatch = (event) => {
    if (event.id !== null) state.lastEventId = event.id;
    const handler = handlers[event.name];
    if (!handler) return;
    state.errors = 0;
    if (event.name === "end") state.ended = true;
    handler(JSON.parse(event.data));
  };

  const connect = async () => {
    const headers = { Accept: "text/event-stream" };
    if (apiKey.get()) headers["X-API-Key"] = apiKey.get();
    // The id of the last epoch seen: the server sends only the epochs after it.
    if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
    const response = await fetch(`/jobs/${jobId}/events`,
      { headers, signal: controller.signal, cache: "no-store" });
    if (!response.ok) throw new StreamRefused(`HTTP ${response.status}`);
    await readEvents(response.body, dispatch);
  };

  const run = async () => {
    while (!state.ended && !controller.signal.aborted) {
      try {
        await connect();
        if (state.ended) return;
        state.errors += 1;  // closed without its end event
      } catch (error) {
        if (controller.signal.aborted) return;
        // A refusal (401, 404, 422) will not change on a retry.
        state.errors = error instanceof StreamRefused
          ? STREAM_ERRORS_BEFORE_POLLING : state.errors + 1;
      }
      if (state.errors >= STREAM_ERRORS_BEFORE_POLLING) {
        state.stopPolling = startPolling();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  };
  run();
  return () => {
    controller.abort();
    if (state.stopPolling) state.stopPolling();
  };
}

// Parse server-sent events from a byte stream and pass each to dispatch as
// {name, id, data}. Comment lines (keep-alives) and retry fields are skipped.
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { name: "message", id: null, data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop();
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") {
        if (event.data.length) {
          dispatch({ name: event.name, id: event.id, data: event.data.join("\n") });
        }
        event = { name: "message", id: null, data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? "" : line.slice(colon + 1);
      if (text.startsWith(" ")) text = text.slice(1);
      if (field === "event") event.name = text;
      else if (field === "data") event.data.push(text);
      else if (field === "id") event.id = text;
    }
  }
}
