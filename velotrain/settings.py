"""Service settings, read from ``VELOTRAIN_*`` environment variables.

Every setting has a working default: the embedded default keeps the database, the
broker and the artifacts in files under ``VELOTRAIN_DATA_DIR`` and needs no server.
"""

from functools import cached_property
from pathlib import Path

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
    job_queue: str = Field(default="cpu", pattern="^(cpu|gpu)$")
    log_level: str = "INFO"

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
    def weights_cache_dir(self) -> Path:
        return self.resolved_data_dir / "weights"

    def ensure_data_dir(self) -> None:
        """Create the data folder and its artifact folder if they do not exist."""
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    """Read the settings from the environment of the calling process."""
    return Settings()
