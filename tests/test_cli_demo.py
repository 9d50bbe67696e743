"""`velotrain demo` rejects a port on which another server already listens."""

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
