"""Commands that talk to a running API: submit, jobs, compare, datasets, download.

`velotrain history ID` lives in velotrain/commands/history.py. Every command here
takes --url and --api-key, defaulting to VELOTRAIN_URL and VELOTRAIN_API_KEY.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from velotrain.client import (
    DEFAULT_URL,
    TERMINAL_STATUSES,
    ApiError,
    VelotrainClient,
)

BAR_WIDTH = 30
DEVICES = ["cpu", "gpu"]


def register(subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None, help="API base URL (VELOTRAIN_URL)")
    common.add_argument("--api-key", default=None, help="API key (VELOTRAIN_API_KEY)")
    _register_submit(subparsers, common)
    listing = subparsers.add_parser("jobs", parents=[common], help="List jobs")
    listing.add_argument("--status", default=None)
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument(
        "--device", choices=DEVICES, help="List only the jobs of this queue"
    )
    listing.set_defaults(handler=run_jobs)
    _register_watch(listing)
    compare = subparsers.add_parser(
        "compare", parents=[common], help="Compare jobs in a table and a loss plot"
    )
    compare.add_argument("job_ids", type=int, nargs="+")
    compare.add_argument("--plot", type=Path, default=None, help="PNG file to write")
    compare.set_defaults(handler=run_compare)
    download = subparsers.add_parser(
        "download", parents=[common], help="Save a trained job's model file"
    )
    download.add_argument("job_id", type=int)
    download.add_argument(
        "--format",
        default="keras",
        choices=["keras", "tflite", "tflite-int8", "preprocessing"],
        help="Model file, or the input standardisation statistics as JSON",
    )
    download.add_argument(
        "--inputs",
        default="standardised",
        choices=["standardised", "raw"],
        help="raw: a model that takes raw features and returns class logits or "
        "targets in their own unit",
    )
    download.add_argument("-o", "--output", type=Path, default=None)
    download.set_defaults(handler=run_download)
    _register_datasets(subparsers, common)


def _register_submit(subparsers, common) -> None:
    submit = subparsers.add_parser("submit", parents=[common], help="Submit a job")
    submit.add_argument("--dataset", default="digits", help="A catalog dataset")
    submit.add_argument("--dataset-id", type=int, default=None, help="An upload")
    submit.add_argument("--task", choices=["classification", "regression"])
    submit.add_argument("--model", default=None, help="A preset (default mlp)")
    submit.add_argument("--layers", default=None, help="A JSON list of layers")
    submit.add_argument("--model-upload", default=None, help="sha256 of POST /models")
    submit.add_argument("--hidden-sizes", type=int, nargs="+", default=None)
    submit.add_argument("--velo", action="store_true", help="Train with VeLO")
    submit.add_argument("--epochs", type=int, default=None)
    submit.add_argument("--batch-size", default=None, help='"full" or an integer')
    submit.add_argument("--learning-rate", type=float, default=None)
    submit.add_argument("--seed", type=int, default=None)
    submit.add_argument("--name", default=None)
    submit.add_argument(
        "--device",
        choices=DEVICES,
        default=None,
        help="Queue of the workers that train the job (default: the server's)",
    )
    submit.add_argument("--wait", action="store_true", help="Show progress until done")
    submit.set_defaults(handler=run_submit)


def _register_watch(listing) -> None:
    actions = listing.add_subparsers(dest="action", metavar="{watch}")
    watch = actions.add_parser(
        "watch", help="Print each epoch of a job as it ends, then its final status"
    )
    watch.add_argument("job_id", type=int)
    # SUPPRESS keeps the values given before `watch` (velotrain jobs --url U watch).
    watch.add_argument(
        "--url", default=argparse.SUPPRESS, help="API base URL (VELOTRAIN_URL)"
    )
    watch.add_argument(
        "--api-key", default=argparse.SUPPRESS, help="API key (VELOTRAIN_API_KEY)"
    )
    watch.set_defaults(handler=run_watch)


def _register_datasets(subparsers, common) -> None:
    datasets = subparsers.add_parser("datasets", help="Upload and list datasets")
    actions = datasets.add_subparsers(dest="action", required=True)
    upload = actions.add_parser("upload", parents=[common], help="Upload CSV or NPZ")
    upload.add_argument("file", type=Path)
    upload.add_argument("--label", default=None, help="Label column of a CSV file")
    upload.add_argument("--task", choices=["classification", "regression"])
    upload.set_defaults(handler=run_datasets_upload)
    listing = actions.add_parser("list", parents=[common], help="List datasets")
    listing.set_defaults(handler=run_datasets_list)


def make_client(args: argparse.Namespace) -> VelotrainClient:
    """Return the API client the command's flags and environment describe."""
    return VelotrainClient(base_url=args.url, api_key=args.api_key)


def calling_api(handler):
    """Wrap a command so API errors and unreachable servers print one line."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (ApiError, ConnectionError) as error:
            print(f"velotrain: {error}", file=sys.stderr)
            return 1
        except httpx.TransportError as error:
            url = args.url or os.environ.get("VELOTRAIN_URL") or DEFAULT_URL
            print(
                f"velotrain: request to the API at {url} failed: {error!r}. Start it "
                "with `velotrain serve`, or pass --url or set VELOTRAIN_URL.",
                file=sys.stderr,
            )
            return 1

    return run


def submit_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Return the POST /jobs body the submit flags describe."""
    fields: dict[str, Any] = {"dataset": args.dataset, "use_velo": args.velo}
    if args.dataset_id is not None:
        fields["dataset"] = {"id": args.dataset_id, "task": args.task}
    if args.layers:
        fields["model"] = {"layers": json.loads(args.layers)}
    elif args.model_upload:
        fields["model"] = {"upload": args.model_upload}
    elif args.model:
        fields["model"] = args.model
    optional = {
        "hidden_sizes": args.hidden_sizes,
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "name": args.name,
        "device": args.device,
    }
    fields |= {key: value for key, value in optional.items() if value is not None}
    if args.batch_size is not None:
        size = args.batch_size
        fields["batch_size"] = size if size == "full" else int(size)
    return fields


@calling_api
def run_submit(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        job = client.submit(**submit_fields(args))
        print(f"job {job['id']} {job['status']}")
        if not args.wait:
            return 0
        job = client.wait(job["id"], on_progress=ProgressPrinter(sys.stderr))
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(final_line(job))
    return 0 if job["status"] == "succeeded" else 1


def progress_line(job: dict[str, Any]) -> str:
    """Return a one-line progress bar of a job."""
    done = job["progress"]["epochs_done"]
    total = max(job["progress"]["epochs_total"], 1)
    filled = round(BAR_WIDTH * done / total)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return f"[{bar}] {done}/{total} epochs  {job['status']}"


class ProgressPrinter:
    """Redraw one progress line on a terminal; elsewhere print each change once."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._last: str | None = None

    def __call__(self, job: dict[str, Any]) -> None:
        line = progress_line(job)
        if self._stream.isatty():
            print("\r" + line, end="", file=self._stream, flush=True)
        elif line != self._last:
            print(line, file=self._stream, flush=True)
        self._last = line


def final_line(job: dict[str, Any]) -> str:
    """Return "job N STATUS", then the failure reason or the final metrics."""
    line = f"job {job['id']} {job['status']}"
    if job["status"] == "failed":
        return f"{line}: {job.get('failure_reason') or 'no reason recorded'}"
    metrics = job.get("final_metrics") or {}
    names = ("val_loss", "val_accuracy")
    detail = "  ".join(
        f"{k} {metrics[k]:.4f}" for k in names if metrics.get(k) is not None
    )
    return f"{line}: {detail}" if detail else line


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@calling_api
def run_jobs(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        jobs = client.jobs(status=args.status, limit=args.limit, device=args.device)
    header = [
        "id",
        "status",
        "optimizer",
        "device",
        "dataset",
        "model",
        "epochs",
        "val_loss",
    ]
    rows = [
        [
            job["id"],
            job["status"],
            job["optimizer"],
            job["device"],
            job["config"]["dataset"],
            job["config"]["model"],
            f"{job['progress']['epochs_done']}/{job['progress']['epochs_total']}",
            (job.get("final_metrics") or {}).get("val_loss"),
        ]
        for job in jobs
    ]
    print(_table(header, rows))
    return 0


@calling_api
def run_watch(args: argparse.Namespace) -> int:
    job = None
    with make_client(args) as client:
        for name, data in client.follow(args.job_id):
            if name == "epoch":
                total = job["progress"]["epochs_total"] if job else None
                print(epoch_line(data, total), flush=True)
                continue
            if name == "status" and data["status"] not in TERMINAL_STATUSES:
                if job is None or data["status"] != job["status"]:
                    print(f"job {data['id']} {data['status']}", flush=True)
            job = data
    print(final_line(job))
    return 0 if job["status"] == "succeeded" else 1


def epoch_line(row: dict[str, Any], total: int | None = None) -> str:
    """Return one line with an epoch's metrics; absent metrics are left out."""
    names = ("loss", "val_loss", "accuracy", "val_accuracy")
    metrics = "  ".join(f"{k} {row[k]:.4f}" for k in names if row.get(k) is not None)
    epoch = f"{row['epoch']}/{total}" if total else str(row["epoch"])
    return f"epoch {epoch}  {metrics}  {row['seconds']:.2f} s"


@calling_api
def run_compare(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        runs = [(client.job(i), client.history(i)) for i in args.job_ids]
    header = ["id", "optimizer", "dataset", "status", "epochs", "val_loss", "val_acc"]
    rows = []
    for job, _epochs in runs:
        metrics = job.get("final_metrics") or {}
        rows.append(
            [
                job["id"],
                job["optimizer"],
                job["config"]["dataset"],
                job["status"],
                job["progress"]["epochs_done"],
                metrics.get("val_loss"),
                metrics.get("val_accuracy"),
            ]
        )
    print(_table(header, rows))
    path = args.plot or Path("compare-" + "-".join(map(str, args.job_ids)) + ".png")
    plot_losses(runs, path)
    print(f"loss curves saved to {path}")
    return 0


def plot_losses(runs: list[tuple[dict, list[dict]]], path: Path) -> None:
    """Save the training and validation loss curves of `runs` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 5))
    for job, epochs in runs:
        label = f"{job['id']} {job['optimizer']}"
        xs = [row["epoch"] for row in epochs]
        (line,) = axes.plot(xs, [row["val_loss"] for row in epochs], label=label)
        axes.plot(xs, [row["loss"] for row in epochs], "--", color=line.get_color())
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (solid: validation, dashed: training)")
    axes.set_yscale("log")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)


@calling_api
def run_download(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        path = client.download_model(
            args.job_id, args.format, args.output, inputs=args.inputs
        )
    print(f"saved {path}")
    return 0


@calling_api
def run_datasets_upload(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        dataset = client.upload_dataset(args.file, args.label, args.task)
    classes = dataset["num_classes"] or "-"
    print(
        f"dataset {dataset['id']}: {dataset['num_rows']} rows, "
        f"{dataset['num_features']} features, {dataset['task']}, classes {classes}"
    )
    print(f"train on it with: velotrain submit --dataset-id {dataset['id']}")
    return 0


@calling_api
def run_datasets_list(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        datasets = client.datasets()
    header = ["id", "name", "task", "rows", "features", "classes"]
    rows = [
        [
            d["id"],
            d["name"],
            d["task"],
            d["num_rows"],
            d["num_features"],
            d["num_classes"],
        ]
        for d in datasets
    ]
    print(_table(header, rows))
    return 0
