"""Download, list and resolve VeLO weights through the registry and the CLI."""

import argparse
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from velo_core.velo import registry
from velo_core.velo.checkpoint import WeightsFileError
from velo_core.velo.registry import WeightsEntry, WeightsUnavailableError
from velotrain.commands import weights as weights_command

DATA = Path(__file__).parents[1] / "data" / "velo_reference"
PAYLOAD = (DATA / "params").read_bytes()
PAYLOAD_SIZE = len(PAYLOAD)


@pytest.fixture(scope="module")
def server():
    """Serve tests/data/velo_reference on 127.0.0.1 from a background thread."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(DATA)
    )
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def register_entry(monkeypatch, url, sha256, size=PAYLOAD_SIZE, bundled=False):
    entry = WeightsEntry(
        name="test-weights",
        file_name="test-weights.msgpack",
        size=size,
        sha256=sha256,
        url=url,
        bundled=bundled,
    )
    # Only the official entry and this one, whatever else is registered.
    known = (registry.get_entry("velo-official"), entry)
    monkeypatch.setattr(registry, "KNOWN_WEIGHTS", known)
    return entry


def build_parser():
    parser = argparse.ArgumentParser()
    weights_command.register(parser.add_subparsers(dest="command"))
    return parser


def test_fetch_installs(server, monkeypatch, tmp_path):
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    register_entry(monkeypatch, f"{server}/params", sha256)
    weights = registry.fetch_weights("test-weights", tmp_path)
    assert (tmp_path / "test-weights.msgpack").read_bytes() == PAYLOAD
    assert weights.sha256 == sha256


def test_fetch_hash_mismatch(server, monkeypatch, tmp_path):
    register_entry(monkeypatch, f"{server}/params", "0" * 64)
    with pytest.raises(WeightsFileError, match="sha256"):
        registry.fetch_weights("test-weights", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_size_mismatch(server, monkeypatch, tmp_path):
    register_entry(monkeypatch, f"{server}/params", None, size=len(PAYLOAD) + 14)
    with pytest.raises(WeightsFileError, match="bytes"):
        registry.fetch_weights("test-weights", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_unchecked_hash_records_computed(server, monkeypatch, tmp_path):
    register_entry(monkeypatch, None, None)
    weights = registry.fetch_weights("test-weights", tmp_path, url=f"{server}/params")
    assert weights.sha256 == hashlib.sha256(PAYLOAD).hexdigest()


def test_fetch_rejects_foreign_file(server, monkeypatch, tmp_path):
    size = len((DATA / "manifest.json").read_bytes())
    register_entry(monkeypatch, f"{server}/manifest.json", None, size=size)
    with pytest.raises(WeightsFileError):
        registry.fetch_weights("test-weights", tmp_path)
    assert not (tmp_path / "test-weights.msgpack").exists()


def test_list_reports_installed_hash(monkeypatch, tmp_path):
    register_entry(monkeypatch, None, None)
    (tmp_path / "test-weights.msgpack").write_bytes(PAYLOAD)
    rows = {row["name"]: row for row in registry.list_weights(tmp_path)}
    assert rows["test-weights"]["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert rows["velo-official"]["installed"] is False


def test_resolve_default_without_weights(monkeypatch, tmp_path):
    official = registry.get_entry("velo-official")
    monkeypatch.setattr(registry, "KNOWN_WEIGHTS", (official,))
    with pytest.raises(WeightsUnavailableError, match="velotrain weights fetch"):
        registry.resolve_weights(None, tmp_path)


def test_resolve_default_prefers_official(monkeypatch, tmp_path):
    official = registry.get_entry("velo-official")
    patched = WeightsEntry(**{**official.__dict__, "size": len(PAYLOAD)})
    monkeypatch.setattr(registry, "KNOWN_WEIGHTS", (patched,))
    (tmp_path / official.file_name).write_bytes(PAYLOAD)
    assert registry.resolve_weights(None, tmp_path).name == "velo-official"


def test_resolve_default_bundled(monkeypatch, tmp_path):
    register_entry(monkeypatch, None, None, bundled=True)
    monkeypatch.setattr(registry, "BUNDLED_DIR", tmp_path)
    (tmp_path / "test-weights.msgpack").write_bytes(PAYLOAD)
    assert registry.resolve_weights(None, tmp_path / "cache").name == "test-weights"


def test_resolve_path():
    assert registry.resolve_weights(str(DATA / "params"), None).path == str(
        DATA / "params"
    )


def test_resolve_unknown_name(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="neither"):
        registry.resolve_weights("no-such-weights", tmp_path)


def test_cli_fetch_and_list(server, monkeypatch, tmp_path, capsys):
    register_entry(monkeypatch, None, hashlib.sha256(PAYLOAD).hexdigest())
    parser = build_parser()
    args = parser.parse_args(
        [
            "weights",
            "fetch",
            "test-weights",
            "--url",
            f"{server}/params",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    assert args.handler(args) == 0
    args = parser.parse_args(["weights", "list", "--cache-dir", str(tmp_path)])
    capsys.readouterr()
    assert args.handler(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    installed = {row["name"] for row in rows if row["installed"]}
    assert installed == {"test-weights"}


def test_cli_fetch_hash_mismatch(server, monkeypatch, tmp_path):
    register_entry(monkeypatch, f"{server}/params", "f" * 64)
    args = build_parser().parse_args(
        ["weights", "fetch", "test-weights", "--cache-dir", str(tmp_path)]
    )
    assert args.handler(args) == 1


def test_cli_cache_dir_default(monkeypatch):
    monkeypatch.setenv("VELOTRAIN_DATA_DIR", "/srv/velotrain")
    assert weights_command.default_cache_dir() == "/srv/velotrain/weights"
