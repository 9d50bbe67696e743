"""A small Python client of the velotrain REST API.

Usable on its own:

    from velotrain.client import VelotrainClient

    client = VelotrainClient()  # VELOTRAIN_URL and VELOTRAIN_API_KEY, if set
    dataset = client.upload_dataset("sensors.csv", label="activity")
    job = client.submit(dataset={"id": dataset["id"]}, use_velo=True, epochs=30)
    job = client.wait(job["id"])
    client.download_model(job["id"], "tflite-int8", "model.tflite")
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from velotrain.sse import read_events

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
RECONNECT_SECONDS = 1.0


class ApiError(RuntimeError):
    """The API returned an error status; `detail` is its explanation."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"HTTP {status_code}: {_readable(detail)}")
        self.status_code = status_code
        self.detail = detail


def _readable(detail: Any) -> str:
    if isinstance(detail, list):  # validation errors: [{"loc": [...], "msg": ...}]
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', [])[1:])}: "
            f"{item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail)


class VelotrainClient:
    """Calls the API of one velotrain server.

    Args:
        base_url: the server; default VELOTRAIN_URL, else http://127.0.0.1:8000.
        api_key: the project API key; default VELOTRAIN_API_KEY, else none.
        timeout: seconds per request.
        http: an httpx.Client to send requests with instead (tests pass one).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("VELOTRAIN_URL") or DEFAULT_URL
        api_key = api_key or os.environ.get("VELOTRAIN_API_KEY")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = headers

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> VelotrainClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self._http.request(method, path, headers=self._headers, **kwargs)
        _raise_for_error(response)
        return response

    def submit(self, **fields: Any) -> dict[str, Any]:
        """Submit a training job; `fields` are those of POST /jobs."""
        return self._request("POST", "/jobs", json=fields).json()

    def job(self, job_id: int) -> dict[str, Any]:
        """Return job `job_id`."""
        return self._request("GET", f"/jobs/{job_id}").json()

    def jobs(
        self, status: str | None = None, limit: int = 50, device: str | None = None
    ) -> list[dict[str, Any]]:
        """Return the newest jobs, optionally only those with `status` or `device`."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if device:
            params["device"] = device
        return self._request("GET", "/jobs", params=params).json()["items"]

    def history(self, job_id: int) -> list[dict[str, Any]]:
        """Return the epoch rows of job `job_id`."""
        return self._request("GET", f"/jobs/{job_id}/history").json()["epochs"]

    def cancel(self, job_id: int) -> dict[str, Any]:
        """Cancel job `job_id` (a running job stops after its current epoch)."""
        return self._request("POST", f"/jobs/{job_id}/cancel").json()

    def wait(
        self,
        job_id: int,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        poll_seconds: float = 1.0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll job `job_id` until it ends and return it.

        `on_progress` receives the job after every poll. Raises TimeoutError after
        `timeout` seconds (None waits as long as it takes).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["status"] in TERMINAL_STATUSES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"job {job_id} still {job['status']} after {timeout} s; "
                    "wait longer or check the workers"
                )
            time.sleep(poll_seconds)

    def follow(
        self, job_id: int, after_epoch: int = 0, reconnects: int = 3
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield the events of job `job_id` as (name, data) until the job ends.

        Names: "status" (the job), "epoch" (one history row, only those after
        `after_epoch`) and last "end" (the job in its terminal status). A connection
        that drops after an event is resumed after the last epoch received, at most
        `reconnects` times in a row without an event in between. If the job was
        requeued meanwhile, its new attempt's epochs come again from epoch 1.
        """
        failures = 0
        received = False
        attempt = None
        while True:
            try:
                for name, data in self._stream_events(job_id, after_epoch, attempt):
                    received, failures = True, 0
                    if name == "epoch":
                        after_epoch = data["epoch"]
                    else:
                        attempt = data.get("attempt") or None
                    yield name, data
                    if name == "end":
                        return
            except httpx.TransportError:
                if not received or failures >= reconnects:
                    raise
            else:
                if not received or failures >= reconnects:
                    raise ConnectionError(
                        f"the event stream of job {job_id} closed without its end "
                        "event. Check that the API server is running."
                    )
            failures += 1
            time.sleep(RECONNECT_SECONDS)

    def _stream_events(
        self, job_id: int, after_epoch: int, attempt: int | None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        path = f"/jobs/{job_id}/events"
        params = {"after_epoch": after_epoch}
        if attempt is not None:
            params["attempt"] = attempt
        with self._http.stream(
            "GET", path, headers=self._headers, params=params
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_error(response)
            for event in read_events(response.iter_lines()):
                yield event.name, json.loads(event.data)

    def upload_dataset(
        self, path: str | Path, label: str | None = None, task: str | None = None
    ) -> dict[str, Any]:
        """Upload a CSV or NPZ file; a CSV needs `label`, its label column."""
        path = Path(path)
        form = {
            key: value for key, value in (("label", label), ("task", task)) if value
        }
        with path.open("rb") as stream:
            files = {"file": (path.name, stream)}
            return self._request("POST", "/datasets", files=files, data=form).json()

    def datasets(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return the newest uploaded datasets."""
        return self._request("GET", "/datasets", params={"limit": limit}).json()[
            "items"
        ]

    def delete_dataset(self, dataset_id: int) -> None:
        """Delete an uploaded dataset (rejected while a job trains on it)."""
        self._request("DELETE", f"/datasets/{dataset_id}")

    def upload_model(self, path: str | Path) -> dict[str, Any]:
        """Upload a `.keras` model; submit it as `model={"upload": sha256}`."""
        path = Path(path)
        with path.open("rb") as stream:
            files = {"file": (path.name, stream)}
            return self._request("POST", "/models", files=files).json()

    def download_model(
        self,
        job_id: int,
        fmt: str = "keras",
        destination: str | Path | None = None,
        inputs: str = "standardised",
    ) -> Path:
        """Save a trained model ("keras", "tflite", "tflite-int8") or its input
        statistics ("preprocessing", JSON); return the path written.

        `inputs="raw"` saves the model variant that takes raw features and returns
        class logits or targets in their own unit (default file job-ID.raw.SUFFIX).
        """
        params = {"format": fmt, "inputs": inputs}
        response = self._request("GET", f"/jobs/{job_id}/model", params=params)
        suffixes = {
            "keras": ".keras",
            "tflite": ".tflite",
            "tflite-int8": ".int8.tflite",
            "preprocessing": ".preprocessing.json",
        }
        marker = ".raw" if inputs == "raw" and fmt != "preprocessing" else ""
        path = Path(destination or f"job-{job_id}{marker}{suffixes[fmt]}")
        path.write_bytes(response.content)
        return path


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise ApiError(response.status_code, detail)
