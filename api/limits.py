"""Bound what one request may ask for: body size, model size, data, load and rate.

Each rejection names the limit and its value. The submit rate limit is a token bucket
per client kept in memory, so it applies per API process: N processes behind a load
balancer admit up to N times the configured rate.
"""

import json
import math
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.job_config import InvalidField
from api.schemas import JobConfig
from api.user_sources import config_dataset_info, custom_parameter_count
from velotrain.settings import Settings

# Channels of the two 3x3 convolutions of the conv preset, as velo_core.models
# builds it; tests compare `model_parameter_count` with the built Keras models.
CONV_FILTERS = (16, 32)
CONV_KERNEL = 3
IMAGE_SIDE = 8


class LimitExceeded(Exception):
    """A request goes over a service limit; `status_code` is 413 or 429."""

    def __init__(
        self, status_code: int, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.retry_after = retry_after


def model_parameter_count(config: JobConfig) -> int:
    """Count the trainable parameters of the model `config` builds, without JAX."""
    custom = custom_parameter_count(config)
    if custom is not None:
        return custom
    info = config_dataset_info(config)
    outputs = info.num_classes or 1
    if config.model == "conv":
        count, channels = 0, 1
        for filters in CONV_FILTERS:
            count += CONV_KERNEL * CONV_KERNEL * channels * filters + filters
            channels = filters
        # 2x2 max pooling halves each side of the 8x8 image before the flatten.
        features = (IMAGE_SIDE // 2) ** 2 * channels
        return count + (features + 1) * outputs
    count, width = 0, info.num_features
    for units in config.hidden_sizes or []:
        count += (width + 1) * units
        width = units
    return count + (width + 1) * outputs


def check_resource_limits(config: JobConfig, settings: Settings) -> None:
    """Raise InvalidField if the model or the dataset is over its limit."""
    samples = config_dataset_info(config).num_samples
    if samples > settings.max_dataset_samples:
        raise InvalidField(
            "dataset",
            f"dataset {config.dataset!r} has {samples} samples, over the limit of "
            f"max_dataset_samples={settings.max_dataset_samples}",
        )
    params = model_parameter_count(config)
    if params > settings.max_model_params:
        field = "hidden_sizes" if config.model == "mlp" else "model"
        raise InvalidField(
            field,
            f"the model has {params} parameters, over the limit of "
            f"max_model_params={settings.max_model_params}; use fewer or smaller "
            "hidden layers",
        )


def check_active_jobs(project: str, active: int, settings: Settings) -> None:
    """Raise LimitExceeded (429) when `project` already has its maximum of jobs."""
    limit = settings.max_active_jobs_per_project
    if active >= limit:
        raise LimitExceeded(
            429,
            f"project {project!r} has {active} queued or running jobs, the limit "
            f"of max_active_jobs_per_project={limit}; wait for some to end",
        )


class TokenBucketLimiter:
    """Admit `rate` requests a second per client, in bursts of up to `burst`."""

    # Forget clients whose bucket refilled long ago, to bound memory.
    MAX_CLIENTS = 10_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def client_count(self) -> int:
        """Return how many clients' buckets are kept."""
        return len(self._buckets)

    def take(self, client_id: str, now: float | None = None) -> float:
        """Take one token; return 0 if admitted, else the seconds until one frees."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[client_id] = (tokens, now)
                return (1 - tokens) / self.rate
            self._buckets[client_id] = (tokens - 1, now)
            if len(self._buckets) > self.MAX_CLIENTS:
                self._forget_full(now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        refill_seconds = self.burst / self.rate
        self._buckets = {
            client: state
            for client, state in self._buckets.items()
            if now - state[1] < refill_seconds
        }

    def check(self, client_id: str) -> None:
        """Raise LimitExceeded (429, with the wait) if `client_id` is over its rate."""
        wait = self.take(client_id)
        if wait > 0:
            raise LimitExceeded(
                429,
                f"rate limit of submit_rate_per_second={self.rate:g} with bursts of "
                f"submit_burst={self.burst} exceeded; retry in {wait:.1f} s",
                retry_after=wait,
            )


class BodySizeLimit:
    """ASGI middleware: respond 413 to a request body over `max_bytes`.

    Reads the body up front (it is small by then), so chunked bodies without a
    Content-Length are bounded too.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload_paths: tuple[str, ...] = (),
        max_upload_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # File uploads to these exact paths may be larger; their routes check the
        # file itself against max_upload_bytes.
        self.upload_paths = upload_paths
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> tuple[int, str]:
        if scope["path"].rstrip("/") in self.upload_paths:
            # Room for the multipart headers and the form fields beside the file.
            return self.max_upload_bytes + 64 * 1024, "max_upload_bytes"
        return self.max_bytes, "max_request_bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        if self._declared_length(scope) > limit[0]:
            await self._reject(send, *limit)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > limit[0]:
                await self._reject(send, *limit)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await self.app(scope, _replay(messages, receive), send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _reject(self, send: Send, max_bytes: int, setting: str) -> None:
        body = json.dumps(
            {"detail": f"request body exceeds the limit of {setting}={max_bytes} bytes"}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def retry_after_header(seconds: float) -> str:
    """Format a Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
