import io
import threading
from argparse import Namespace

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db import jobs as job_store
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade_to_head
from tests.service.stack import free_port
from velotrain import cli
from velotrain import client as client_module
from velotrain.client import ApiError, VelotrainClient
from velotrain.commands import history as history_command
from velotrain.commands import jobs as jobs_command
from velotrain.settings import Settings


@pytest.fixture
def settings(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "var", reaper_in_api=False, events_poll_seconds=0.02
    )
    settings.ensure_data_dir()
    upgrade_to_head(settings.resolved_database_url)
    return settings


@pytest.fixture
def api(settings, monkeypatch):
    """A VelotrainClient on an in-process app; the commands use it too."""
    with TestClient(create_app(settings)) as http:
        client = VelotrainClient(http=http)
        monkeypatch.setattr(jobs_command, "make_client", lambda args: client)
        monkeypatch.setattr(VelotrainClient, "close", lambda self: None)
        yield client


def finish(settings, job_id, losses):
    """Run job `job_id` to success with one epoch per loss, as a worker records."""
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    attempt = job_store.claim_job(sessions, job_id, "test-worker")
    for epoch, loss in enumerate(losses, start=1):
        row = {"epoch": epoch, "loss": loss, "val_loss": loss * 1.1, "seconds": 0.1}
        job_store.record_epoch(sessions, job_id, row, attempt)
    metrics = {"val_loss": losses[-1] * 1.1}
    job_store.finish_job(
        sessions, job_id, "succeeded", final_metrics=metrics, attempt=attempt
    )


def test_client_env_url(monkeypatch):
    monkeypatch.setenv("VELOTRAIN_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("VELOTRAIN_API_KEY", "vt_secret")
    client = VelotrainClient()
    assert str(client._http.base_url) == "http://127.0.0.1:9"
    assert client._headers == {"X-API-Key": "vt_secret"}


def test_client_error_names_field(api):
    with pytest.raises(ApiError, match="epochs: epochs must be between") as caught:
        api.submit(epochs=0)
    assert caught.value.status_code == 422


def test_client_wait_reports_progress(api, settings, monkeypatch):
    job = api.submit(dataset="iris", epochs=2)
    seen = []
    monkeypatch.setattr(
        client_module.time, "sleep", lambda _s: finish(settings, job["id"], [1.0, 0.5])
    )
    ended = api.wait(job["id"], on_progress=lambda j: seen.append(j["status"]))
    assert ended["status"] == "succeeded"
    assert seen == ["queued", "succeeded"]


def test_client_upload_dataset(api, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(40.0).reshape(20, 2), y=np.arange(20) % 2)
    assert api.upload_dataset(path)["num_rows"] == 20


def test_cli_submit_wait_shows_bar(api, settings, monkeypatch, capsys):
    monkeypatch.setattr(
        client_module.time, "sleep", lambda _s: finish(settings, 1, [1.0, 0.5, 0.25])
    )
    code = cli.main(
        ["submit", "--velo", "--dataset", "iris", "--epochs", "3", "--wait"]
    )
    output = capsys.readouterr()
    assert code == 0
    assert "[" + "#" * 30 + "] 3/3 epochs  succeeded" in output.err
    assert "job 1 succeeded: val_loss 0.2750" in output.out


def test_cli_submit_fields_for_upload():
    args = cli.build_parser().parse_args(
        [
            "submit",
            "--dataset-id",
            "4",
            "--task",
            "regression",
            "--layers",
            '[{"type": "dense", "units": 8}]',
            "--batch-size",
            "32",
        ]
    )
    fields = jobs_command.submit_fields(args)
    assert fields["dataset"] == {"id": 4, "task": "regression"}
    assert fields["model"] == {"layers": [{"type": "dense", "units": 8}]}
    assert fields["batch_size"] == 32
    assert "device" not in fields


def test_cli_jobs_table(api, capsys):
    api.submit(dataset="wine", epochs=4)
    assert cli.main(["jobs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "id",
        "status",
        "optimizer",
        "device",
        "dataset",
        "model",
        "epochs",
        "val_loss",
    ]
    assert lines[1].split()[:5] == ["1", "queued", "adam", "cpu", "wine"]


def test_cli_submit_device(api, capsys):
    assert cli.main(["submit", "--dataset", "iris", "--device", "gpu"]) == 0
    assert capsys.readouterr().out == "job 1 queued\n"
    assert api.job(1)["device"] == "gpu"


def test_cli_submit_unknown_device(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["submit", "--device", "tpu"])
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


def test_client_jobs_device_filter(api):
    api.submit(dataset="iris", device="gpu")
    api.submit(dataset="wine", device="cpu")
    assert [job["id"] for job in api.jobs(device="gpu")] == [1]
    assert [job["id"] for job in api.jobs(device="cpu")] == [2]


def test_cli_jobs_device_filter(api, capsys):
    api.submit(dataset="iris", device="gpu")
    api.submit(dataset="wine")
    assert cli.main(["jobs", "--device", "gpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[1].split()[:5] == ["1", "queued", "adam", "gpu", "iris"]


def test_cli_compare_table_and_png(api, settings, tmp_path, capsys):
    for losses in ([1.0, 0.5], [1.0, 0.8]):
        job = api.submit(dataset="iris", epochs=2)
        finish(settings, job["id"], losses)
    plot = tmp_path / "curves.png"
    assert cli.main(["compare", "1", "2", "--plot", str(plot)]) == 0
    output = capsys.readouterr().out
    assert "0.5500" in output
    assert "0.8800" in output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_datasets_upload(api, tmp_path, capsys):
    path = tmp_path / "t.csv"
    rows = "\n".join(f"{i},{i % 2}" for i in range(12))
    path.write_text("a,label\n" + rows + "\n")
    assert cli.main(["datasets", "upload", str(path), "--label", "label"]) == 0
    assert "12 rows, 1 features, classification" in capsys.readouterr().out


def test_cli_api_error_exit_code(api, capsys):
    assert cli.main(["submit", "--dataset", "mnist"]) == 1
    assert "dataset must be one of" in capsys.readouterr().err


def test_cli_history_env_url(api, settings, monkeypatch, capsys):
    job = api.submit(dataset="iris", epochs=2)
    finish(settings, job["id"], [1.0, 0.5])
    urls = []

    def connect(base_url, api_key):
        urls.append(base_url)
        return api

    monkeypatch.setattr(history_command, "VelotrainClient", connect)
    monkeypatch.setenv("VELOTRAIN_URL", "http://127.0.0.1:9")
    assert cli.main(["history", str(job["id"])]) == 0
    assert urls == ["http://127.0.0.1:9"]
    assert f"job {job['id']} adam iris/mlp: succeeded" in capsys.readouterr().out


def test_cli_history_unknown_job(api, monkeypatch, capsys):
    monkeypatch.setattr(history_command, "VelotrainClient", lambda **_kw: api)
    assert cli.main(["history", "999"]) == 1
    assert capsys.readouterr().err == "velotrain: HTTP 404: Job 999 not found\n"


@pytest.mark.parametrize(
    "command", [["jobs"], ["history", "1"], ["jobs", "watch", "1"]]
)
def test_cli_unreachable_api(command, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main([*command, "--url", url]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"velotrain: request to the API at {url} failed: ")
    assert "VELOTRAIN_URL" in error
    assert "Traceback" not in error


def test_download_preprocessing_json(api, settings, tmp_path, monkeypatch):
    from db.insights import record_insights

    monkeypatch.chdir(tmp_path)
    job_id = api.submit(dataset="iris", model="linear", epochs=1)["id"]
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    attempt = job_store.claim_job(sessions, job_id, "test-worker")
    statistics = {"feature_mean": [0.5] * 4, "feature_std": [2.0] * 4}
    record_insights(sessions, job_id, {"preprocessing": statistics}, attempt)
    job_store.finish_job(sessions, job_id, "succeeded", attempt=attempt)
    path = api.download_model(job_id, "preprocessing")
    assert path.name == f"job-{job_id}.preprocessing.json"
    assert '"feature_std"' in path.read_text()


def test_cli_download_raw_inputs(api, settings, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    job = api.submit(dataset="iris", epochs=1)
    finish(settings, job["id"], [0.5])
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    (settings.artifacts_dir / f"job-{job['id']}.raw.tflite").write_bytes(b"raw")
    command = ["download", str(job["id"]), "--format", "tflite", "--inputs", "raw"]
    assert cli.main(command) == 0
    assert (tmp_path / f"job-{job['id']}.raw.tflite").read_bytes() == b"raw"
    assert f"job-{job['id']}.raw.tflite" in capsys.readouterr().out


def test_cli_jobs_watch_replays_finished_job(api, settings, capsys):
    job = api.submit(dataset="iris", epochs=2)
    finish(settings, job["id"], [1.0, 0.5])
    assert cli.main(["jobs", "watch", str(job["id"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "epoch 1/2  loss 1.0000  val_loss 1.1000  0.10 s"
    assert lines[1] == "epoch 2/2  loss 0.5000  val_loss 0.5500  0.10 s"
    assert lines[2] == f"job {job['id']} succeeded: val_loss 0.5500"
    assert len(lines) == 3


def test_cli_jobs_watch_follows_queued_job(api, settings, monkeypatch, capsys):
    job = api.submit(dataset="iris", epochs=1)
    threading.Timer(0.3, finish, args=(settings, job["id"], [0.5])).start()
    assert cli.main(["jobs", "watch", str(job["id"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"job {job['id']} queued"
    assert lines[-1] == f"job {job['id']} succeeded: val_loss 0.5500"


def test_cli_jobs_watch_failed_exit_code(api, settings, capsys):
    job = api.submit(dataset="iris", epochs=2)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    attempt = job_store.claim_job(sessions, job["id"], "test-worker")
    job_store.finish_job(
        sessions, job["id"], "failed", failure_reason="diverged", attempt=attempt
    )
    assert cli.main(["jobs", "watch", str(job["id"])]) == 1
    assert capsys.readouterr().out == f"job {job['id']} failed: diverged\n"


def test_cli_jobs_watch_unknown_job(api, capsys):
    assert cli.main(["jobs", "watch", "999"]) == 1
    assert capsys.readouterr().err == "velotrain: HTTP 404: Job 999 not found\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["jobs", "--url", "http://127.0.0.1:9", "watch", "3"],
        ["jobs", "watch", "3", "--url", "http://127.0.0.1:9"],
    ],
)
def test_cli_jobs_watch_url_either_side(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.url == "http://127.0.0.1:9"
    assert args.job_id == 3


def test_client_follow_resumes_after_drop(monkeypatch):
    calls = []

    def stream_events(job_id, after_epoch, attempt):
        calls.append((after_epoch, attempt))
        if len(calls) == 1:
            yield "status", {"status": "running", "attempt": 2}
            yield "epoch", {"epoch": 4}
            raise httpx.ReadError("connection reset")
        yield "end", {"status": "succeeded"}

    client = VelotrainClient(base_url="http://127.0.0.1:9")
    monkeypatch.setattr(client, "_stream_events", stream_events)
    monkeypatch.setattr(client_module.time, "sleep", lambda _s: None)
    names = [name for name, _data in client.follow(1, after_epoch=3)]
    assert names == ["status", "epoch", "end"]
    assert calls == [(3, None), (4, 2)]


def test_client_follow_gives_up_without_events(monkeypatch):
    client = VelotrainClient(base_url="http://127.0.0.1:9")
    monkeypatch.setattr(client, "_stream_events", lambda *_args: iter(()))
    with pytest.raises(ConnectionError, match="closed without its end event"):
        list(client.follow(1))


def test_final_line_cancelled_has_no_colon():
    job = {"id": 7, "status": "cancelled", "final_metrics": None}
    assert jobs_command.final_line(job) == "job 7 cancelled"


def test_final_line_failed_gives_reason():
    job = {"id": 7, "status": "failed", "failure_reason": "worker lost"}
    assert jobs_command.final_line(job) == "job 7 failed: worker lost"


def test_cli_ctrl_c_exits_130(monkeypatch, capsys):
    def interrupted(_args):
        raise KeyboardInterrupt

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = Namespace(handler=interrupted)
    monkeypatch.setattr(parser, "parse_args", lambda _argv: args)
    assert cli.main(["jobs", "watch", "1"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_progress_printer_pipe_prints_changes_once():
    stream = io.StringIO()
    printer = jobs_command.ProgressPrinter(stream)
    queued = {"status": "queued", "progress": {"epochs_done": 0, "epochs_total": 2}}
    running = {"status": "running", "progress": {"epochs_done": 1, "epochs_total": 2}}
    for job in (queued, queued, running):
        printer(job)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines == [
        jobs_command.progress_line(queued),
        jobs_command.progress_line(running),
    ]
