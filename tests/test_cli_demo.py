"""`velotrain demo` checks its port and points at the log when serve fails."""

import socket

import pytest

from velotrain import cli


def test_demo_busy_port(monkeypatch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        monkeypatch.setenv("VELOTRAIN_PORT", str(port))
        with pytest.raises(SystemExit, match=f"port {port} is already in use"):
            cli.main(["demo"])


@pytest.mark.slow
def test_demo_serve_failure_names_log(tmp_path, monkeypatch):
    monkeypatch.delenv("VELOTRAIN_PORT", raising=False)
    monkeypatch.setenv("VELOTRAIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VELOTRAIN_DATABASE_URL", "nosuchdialect://localhost/db")
    log_path = tmp_path / "var" / "demo.log"
    with pytest.raises(SystemExit, match=f"see its log in {log_path}"):
        cli.main(["demo"])
    assert "nosuchdialect" in log_path.read_text()
