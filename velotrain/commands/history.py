"""`velotrain history JOB_ID`: print a job's epochs and its results.

Reads the job from a running API: its per-epoch metrics, early stopping, the
confusion matrix and per-class scores, the cost breakdown and the device fit.
"""

import argparse
import os
from typing import Any

from velotrain.client import VelotrainClient
from velotrain.commands.jobs import calling_api
from velotrain.settings import get_settings


def register(subparsers) -> None:
    history = subparsers.add_parser(
        "history", help="Print a job's epochs, confusion matrix, cost and device fit"
    )
    history.add_argument("job_id", type=int)
    history.add_argument(
        "--url",
        default=None,
        help="API base URL (default: VELOTRAIN_URL, else VELOTRAIN_HOST and _PORT)",
    )
    history.add_argument(
        "--api-key",
        default=os.environ.get("VELOTRAIN_API_KEY"),
        help="Project API key when the server needs one (or VELOTRAIN_API_KEY)",
    )
    history.set_defaults(handler=run_history)


def run_history(args: argparse.Namespace) -> int:
    if args.url is None:
        settings = get_settings()
        local_url = f"http://{settings.host}:{settings.port}"
        args.url = os.environ.get("VELOTRAIN_URL") or local_url
    return _print_history(args)


@calling_api
def _print_history(args: argparse.Namespace) -> int:
    with VelotrainClient(base_url=args.url, api_key=args.api_key) as client:
        job = client.job(args.job_id)
        epochs = client.history(args.job_id)
    print(format_report(job, epochs))
    return 0


def format_report(job: dict[str, Any], epochs: list[dict[str, Any]]) -> str:
    """Return the plain-text report of one job and its epoch rows."""
    sections = [
        _summary(job),
        _epoch_table(epochs),
        _early_stopping(job),
        _classification(job.get("classification")),
        _cost(job.get("cost")),
        _device_fit(job.get("device_fit")),
    ]
    return "\n\n".join(section for section in sections if section)


def _number(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _summary(job: dict[str, Any]) -> str:
    config = job["config"]
    line = (
        f"job {job['id']} {job['optimizer']} {config['dataset']}/{config['model']}: "
        f"{job['status']}"
    )
    if job.get("failure_reason"):
        line += f" ({job['failure_reason']})"
    return line


def _epoch_table(epochs: list[dict[str, Any]]) -> str:
    columns = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "seconds")
    lines = ["".join(f"{name:>13}" for name in columns)]
    for row in epochs:
        lines.append("".join(f"{_number(row.get(name)):>13}" for name in columns))
    return "\n".join(lines)


def _early_stopping(job: dict[str, Any]) -> str:
    if not job["config"].get("early_stopping"):
        return ""
    planned, executed = job.get("num_steps"), job.get("steps_executed")
    if job.get("stopped_epoch") is None:
        return f"early stopping: did not trigger ({executed} of {planned} steps)"
    text = (
        f"early stopping: stopped after epoch {job['stopped_epoch']}, kept the "
        f"weights of epoch {job['best_epoch']} ({executed} of {planned} steps)"
    )
    if job["optimizer"] == "velo":
        text += "; VeLO's schedule was planned for all steps, so it ended early"
    return text


def _classification(report: dict[str, Any] | None) -> str:
    if not report:
        return ""
    names = report["label_names"]
    width = max(8, *(len(name) + 1 for name in names))
    lines = ["confusion matrix, validation split (rows: true, columns: predicted)"]
    lines.append(" " * width + "".join(f"{name:>{width}}" for name in names))
    for name, row in zip(names, report["confusion_matrix"], strict=True):
        lines.append(f"{name:>{width}}" + "".join(f"{count:>{width}}" for count in row))
    lines.append("")
    lines.append(f"{'class':>{width}}{'precision':>11}{'recall':>11}{'f1':>11}")
    scores = (report["precision"], report["recall"], report["f1"])
    for name, precision, recall, f1 in zip(names, *scores, strict=True):
        lines.append(f"{name:>{width}}{precision:>11.3f}{recall:>11.3f}{f1:>11.3f}")
    return "\n".join(lines)


def _cost(cost: dict[str, Any] | None) -> str:
    if not cost:
        return ""
    rows = [
        ("training loop", cost["loop_seconds"]),
        ("  compilation", cost["compile_seconds"]),
        ("  gradients", cost["gradient_seconds"]),
        ("  optimizer updates", cost["update_seconds"]),
        ("  validation", cost["evaluation_seconds"]),
    ]
    lines = ["cost (seconds)"]
    lines += [f"{name:<22}{seconds:>10.3f}" for name, seconds in rows]
    lines.append(f"{'optimizer state':<22}{cost['optimizer_state_bytes']:>10} bytes")
    peak_mib = cost["peak_memory_bytes"] / 2**20
    lines.append(f"{'worker process peak':<22}{peak_mib:>10.1f} MiB")
    return "\n".join(lines)


def _device_fit(fit: dict[str, Any] | None) -> str:
    if not fit:
        return ""
    lines = [f"device fit: {fit.get('param_count')} parameters"]
    if fit.get("error"):
        lines.append(f"  TFLite not measured: {fit['error']}")
        return "\n".join(lines)
    lines.append(f"  TFLite float32 {fit['tflite_float32_bytes']} bytes")
    lines.append(f"  TFLite int8    {fit['tflite_int8_bytes']} bytes")
    lines.append(
        f"  median latency {fit['latency_ms_median']:.4f} ms per sample "
        f"(float32, {fit['latency_runs']} runs, measured on {fit['measured_on']})"
    )
    return "\n".join(lines)
