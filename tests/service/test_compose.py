"""The deployment files: docker-compose.yml as the compose client renders it, and
the Dockerfile's build choices."""

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.service.backends import servers_required
from velotrain.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVICES = {"postgres", "redis", "api", "worker"}


def compose_command() -> list[str] | None:
    """Return the compose client: the docker plugin, else standalone docker-compose."""
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        )
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


@pytest.fixture(scope="module")
def compose() -> dict:
    command = compose_command()
    if command is None:
        reason = "neither `docker compose` nor `docker-compose` is installed"
        if servers_required(os.environ):
            pytest.fail(f"{reason}; .ci/run installs docker-compose", pytrace=False)
        pytest.skip(reason)
    rendered = subprocess.run(
        [*command, "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr
    return yaml.safe_load(rendered.stdout)


def profiles(service: dict) -> set[str]:
    return set(service.get("profiles", []))


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_compose_services(compose):
    services = compose["services"]
    default = {name for name, service in services.items() if not profiles(service)}
    assert default == DEFAULT_SERVICES
    assert profiles(services["worker-cpu"]) == {"cpu"}
    assert profiles(services["flower"]) == {"flower"}


def test_compose_api_migrates_before_serving(compose):
    api = compose["services"]["api"]
    assert api["command"] == ["api", "--migrate"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_gpu_worker_reserves_one_gpu(compose):
    worker = compose["services"]["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert len(device["device_ids"]) == 1
    assert option(worker["command"], "--queue") == "gpu"
    assert worker["build"]["args"]["JAX_BUILD"] == "cuda12"


def test_compose_cpu_worker_consumes_cpu(compose):
    worker = compose["services"]["worker-cpu"]
    assert option(worker["command"], "--queue") == "cpu"
    assert "deploy" not in worker


@pytest.mark.parametrize("name", ["postgres", "redis", "api", "flower"])
def test_compose_service_has_healthcheck(compose, name):
    assert compose["services"][name]["healthcheck"]["test"]


def test_compose_volumes_keep_database_and_artifacts(compose):
    services = compose["services"]
    assert "postgres-data:/var/lib/postgresql/data" in str(
        services["postgres"]["volumes"]
    )
    for name in ("api", "worker", "worker-cpu"):
        assert "velotrain-data:/var/lib/velotrain" in str(services[name]["volumes"])
    assert {"postgres-data", "redis-data", "velotrain-data"} <= set(compose["volumes"])


def test_compose_settings_exist(compose):
    fields = set(Settings.model_fields)
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("VELOTRAIN_"):
                field = variable.removeprefix("VELOTRAIN_").lower()
                assert field in fields, f"{name}: {variable} is not a Settings field"


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_dockerfile_is_multi_stage():
    stages = re.findall(r"^FROM \S+ AS (\w+)$", dockerfile(), flags=re.MULTILINE)
    assert stages == ["build", "runtime"]


def test_dockerfile_runs_as_non_root():
    users = re.findall(r"^USER (\S+)$", dockerfile(), flags=re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_pins_jax_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (jax_pin,) = [dep for dep in project["dependencies"] if dep.startswith("jax==")]
    version = re.search(r"^ARG JAX_VERSION=(\S+)$", dockerfile(), flags=re.MULTILINE)
    assert version is not None
    assert jax_pin == f"jax=={version.group(1)}"


def test_dockerfile_builds_cpu_or_cuda_jax():
    text = dockerfile()
    assert re.search(r"^ARG JAX_BUILD=cpu$", text, flags=re.MULTILINE)
    assert 'cpu) requirement="jax==${JAX_VERSION}"' in text
    assert 'cuda12) requirement="jax[cuda12]==${JAX_VERSION}"' in text


def test_dockerfile_settings_exist():
    fields = set(Settings.model_fields)
    variables = re.findall(r"\bVELOTRAIN_(\w+)=", dockerfile())
    assert variables
    assert [name for name in variables if name.lower() not in fields] == []
