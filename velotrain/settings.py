"""Service settings, read from ``VELOTRAIN_*`` environment variables.

Every setting has a working default: the embedded default keeps the database, the
broker and the artifacts in files under ``VELOTRAIN_DATA_DIR`` and needs no server.
"""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings shared by the API, the workers, migrations and the command line."""

    model_config = SettingsConfigDict(env_prefix="VELOTRAIN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("./var")
    database_url: str | None = None
    broker_url: str | None = None
    max_epochs: int = Field(default=1000, ge=1)
    velo_weights: str | None = Field(
        default=None,
        description="VeLO weights: a registered name or a file path. "
        "Unset: the official weights if installed, else the bundled ones.",
    )
    worker_queue: str = Field(default="cpu", pattern="^(cpu|gpu)$")
    job_queue: str = Field(
        default="cpu",
        pattern="^(cpu|gpu)$",
        description="Queue of jobs whose request names no device (cpu or gpu)",
    )
    log_level: str = "INFO"

    # Lost workers, unsent jobs and time limits (see worker/reaper.py).
    max_attempts: int = Field(
        default=3, ge=1, description="Runs of a job before a lost worker fails it"
    )
    heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="Seconds between a running job's heartbeats"
    )
    heartbeat_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Heartbeat age after which a worker is lost"
    )
    reaper_interval_seconds: float = Field(default=5.0, gt=0)
    reaper_in_api: bool = Field(
        default=True, description="Run the reaper loop inside each API process"
    )
    enqueue_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Age of an unsent queued job before the reaper sends it",
    )
    redelivery_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Age of a sent, unclaimed job's message after which the reaper "
        "sends it again, if the broker's queue for the job's device is empty",
    )
    events_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often a job's event stream reads the database for changes",
    )
    # nginx closes a proxied connection after 60 s without data (its default
    # proxy_read_timeout), so the default keep-alive goes out well before that.
    events_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds of silence after which an event stream sends a comment",
    )
    job_time_limit_seconds: int = Field(
        default=3600, ge=1, description="Longest run of one attempt of a job"
    )
    measure_device_fit: bool = Field(
        default=True,
        description="After a job succeeds, convert its model to TFLite and time "
        "inference on the worker's CPU (in a child process; needs TensorFlow)",
    )
    export_tflite: bool = Field(
        default=True,
        description="After a job succeeds, write its float32 and int8 TFLite files "
        "for GET /jobs/{id}/model (in a child process; needs TensorFlow)",
    )

    # Access and limits (see api/auth.py and api/limits.py).
    auth: Literal["on", "off"] = Field(
        default="off", description="on: every /jobs request needs a project API key"
    )
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)
    max_model_params: int = Field(default=5_000_000, ge=1)
    max_dataset_samples: int = Field(default=100_000, ge=1)
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        description="Largest dataset or model file accepted by POST /datasets "
        "and POST /models",
    )
    max_active_jobs_per_project: int = Field(
        default=100, ge=1, description="Queued plus running jobs of one project"
    )
    submit_rate_per_second: float = Field(
        default=10.0, gt=0, description="POST /jobs refill rate per client and process"
    )
    submit_burst: int = Field(default=50, ge=1)

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'velotrain.db'}"

    @property
    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{self.resolved_data_dir / 'broker.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.resolved_data_dir / "artifacts"

    @property
    def datasets_dir(self) -> Path:
        return self.resolved_data_dir / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.resolved_data_dir / "models"

    @property
    def weights_cache_dir(self) -> Path:
        return self.resolved_data_dir / "weights"

    def ensure_data_dir(self) -> None:
        """Create the data folder and its artifact folder if they do not exist."""
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    """Read the settings from the environment of the calling process."""
    return Settings()
