"""Know which VeLO weights exist, download them, list them and pick the default.

Adding weights means adding one `WeightsEntry` to `KNOWN_WEIGHTS`. Entries with
`bundled=True` ship inside the package in velo_core/weights/; the first bundled
entry is the default when the official weights are not installed. Entries whose
sha256 no source states have `sha256=None`: then only the size is verified and the
computed hash is reported (and recorded by every job that uses them).
"""

import dataclasses
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from velo_core.velo.checkpoint import WeightsFileError
from velo_core.velo.weights import (
    VeloWeights,
    load_weights,
    sha256_of_file,
    weights_from_bytes,
)

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "weights"
OFFICIAL_NAME = "velo-official"
_BLOCK = 1 << 20


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    """Describe one known weights file and where it comes from."""

    name: str
    file_name: str
    size: int
    sha256: str | None
    url: str | None
    bundled: bool = False
    description: str = ""


KNOWN_WEIGHTS: tuple[WeightsEntry, ...] = (
    WeightsEntry(
        name=OFFICIAL_NAME,
        file_name="velo-official.msgpack",
        # Size as published; no source states the file's sha256.
        size=9_282_564,
        sha256=None,
        url=(
            "https://storage.googleapis.com/gresearch/learned_optimization/"
            "pretrained_lopts/aug12_continue_on_bigger_2xbs_200kstep_bigproblem_"
            "v2_5620/params"
        ),
        description=(
            "VeLO as published by Metz et al. 2022 (checkpoint "
            "aug12_continue_on_bigger_2xbs_200kstep_bigproblem_v2_5620)"
        ),
    ),
    WeightsEntry(
        name="velotrain-compact-v1",
        file_name="velotrain-compact-v1.msgpack",
        size=52_621,
        sha256="61448e4abd4de7d6a051e0f65868431a9208ea1dbfb12f18b325a261cbe81ec7",
        url=None,
        bundled=True,
        description=(
            "Compact VeLO (32-unit LSTM, 8 bases) meta-trained by velotrain on CPU; "
            "not the paper's checkpoint (see docs/velo-weights.md)"
        ),
    ),
)


class WeightsUnavailableError(FileNotFoundError):
    """Raised when the requested VeLO weights are not on this machine."""


def get_entry(name: str) -> WeightsEntry:
    """Return the registry entry called `name`."""
    for entry in KNOWN_WEIGHTS:
        if entry.name == name:
            return entry
    known = [entry.name for entry in KNOWN_WEIGHTS]
    raise ValueError(f"unknown VeLO weights {name!r}; known: {known}")


def entry_path(entry: WeightsEntry, cache_dir: str | os.PathLike | None) -> Path:
    """Return where the file of `entry` lives (package folder or cache)."""
    if entry.bundled:
        return BUNDLED_DIR / entry.file_name
    if cache_dir is None:
        raise WeightsUnavailableError(missing_weights_message(entry, None))
    return Path(cache_dir) / entry.file_name


def missing_weights_message(entry: WeightsEntry | None, cache_dir) -> str:
    """Return an error message that explains how to provide weights."""
    entry = entry or get_entry(OFFICIAL_NAME)
    target = (
        Path(cache_dir) / entry.file_name
        if cache_dir
        else "<cache_dir>/" + (entry.file_name)
    )
    return (
        f"VeLO weights {entry.name!r} are not installed. On a machine with "
        f"internet access run `velotrain weights fetch {entry.name}`, or copy the "
        f"file from {entry.url} to {target}, or pass weights=<path to a VeLO "
        "weights file>. VeLO does not fall back to another optimizer."
    )


def _verify(entry: WeightsEntry, size: int, sha256: str) -> None:
    if size != entry.size:
        raise WeightsFileError(
            f"{entry.name}: expected {entry.size} bytes. Received: {size} bytes"
        )
    if entry.sha256 is not None and sha256 != entry.sha256:
        raise WeightsFileError(
            f"{entry.name}: expected sha256 {entry.sha256}. Received: {sha256}"
        )


def _download(url: str, destination: Path, limit: int, timeout: float) -> str:
    """Stream `url` into `destination` (at most `limit` bytes); return sha256."""
    digest, size = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        with open(destination, "wb") as handle:
            for block in iter(lambda: response.read(_BLOCK), b""):
                size += len(block)
                if size > limit:
                    raise WeightsFileError(f"{url} sends more than {limit} bytes")
                digest.update(block)
                handle.write(block)
    return digest.hexdigest()


def fetch_weights(
    name: str,
    cache_dir: str | os.PathLike,
    url: str | None = None,
    timeout: float = 60.0,
) -> VeloWeights:
    """Download weights into the cache, verify size, hash and structure, install.

    The download goes to a temporary file in `cache_dir` and is renamed into place
    only after every check passed. Already installed, verified weights are kept.
    """
    entry = get_entry(name)
    if entry.bundled:
        raise ValueError(f"{name} ships with the package; there is nothing to fetch")
    target = entry_path(entry, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        return load_installed(entry, cache_dir)
    source = url or entry.url
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    os.close(handle)
    try:
        sha256 = _download(source, Path(temporary), entry.size, timeout)
        _verify(entry, os.path.getsize(temporary), sha256)
        weights = weights_from_bytes(Path(temporary).read_bytes(), name, str(target))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return weights


def load_installed(entry: WeightsEntry, cache_dir) -> VeloWeights:
    """Load the weights of `entry` after checking its size and hash."""
    path = entry_path(entry, cache_dir)
    if not path.is_file():
        raise WeightsUnavailableError(missing_weights_message(entry, cache_dir))
    data = path.read_bytes()
    _verify(entry, len(data), hashlib.sha256(data).hexdigest())
    try:
        return weights_from_bytes(data, entry.name, str(path))
    except WeightsFileError as error:
        raise WeightsFileError(f"{path}: {error}") from error


def list_weights(cache_dir: str | os.PathLike | None) -> list[dict]:
    """Return known, installed and bundled weights with their sha256.

    `sha256` is the hash of the file on disk when installed, otherwise the one
    the registry expects (None where no source states it).
    """
    rows, seen = [], set()
    for entry in KNOWN_WEIGHTS:
        path = (
            None
            if cache_dir is None and not entry.bundled
            else entry_path(entry, cache_dir)
        )
        installed = path is not None and path.is_file()
        seen.add(path)
        rows.append(
            {
                "name": entry.name,
                "installed": installed,
                "bundled": entry.bundled,
                "path": str(path) if installed else None,
                "size": path.stat().st_size if installed else entry.size,
                "sha256": sha256_of_file(path) if installed else entry.sha256,
                "expected_sha256": entry.sha256,
                "url": entry.url,
            }
        )
    rows += _unregistered_files(cache_dir, seen)
    return rows


def _unregistered_files(cache_dir, seen: set) -> list[dict]:
    if cache_dir is None or not Path(cache_dir).is_dir():
        return []
    rows = []
    for path in sorted(Path(cache_dir).glob("*.msgpack")):
        if path in seen:
            continue
        rows.append(
            {
                "name": path.stem,
                "installed": True,
                "bundled": False,
                "path": str(path),
                "size": path.stat().st_size,
                "sha256": sha256_of_file(path),
                "expected_sha256": None,
                "url": None,
            }
        )
    return rows


def default_bundled_entry() -> WeightsEntry | None:
    """Return the first bundled entry, the default without official weights."""
    return next((entry for entry in KNOWN_WEIGHTS if entry.bundled), None)


def resolve_weights(weights, cache_dir: str | os.PathLike | None) -> VeloWeights:
    """Return loaded weights for None, a registered name, a path or VeloWeights.

    None picks the installed official weights, else the bundled default; without
    either it raises WeightsUnavailableError saying how to install weights.
    """
    if isinstance(weights, VeloWeights):
        return weights
    if weights is None:
        official = get_entry(OFFICIAL_NAME)
        if cache_dir is not None and entry_path(official, cache_dir).is_file():
            return load_installed(official, cache_dir)
        bundled = default_bundled_entry()
        if bundled is not None:
            return load_installed(bundled, cache_dir)
        raise WeightsUnavailableError(missing_weights_message(official, cache_dir))
    if isinstance(weights, str) and weights in {e.name for e in KNOWN_WEIGHTS}:
        return load_installed(get_entry(weights), cache_dir)
    if isinstance(weights, str | os.PathLike):
        if not Path(weights).is_file():
            raise WeightsUnavailableError(
                f"{weights!r} is neither a registered VeLO weights name "
                f"({[e.name for e in KNOWN_WEIGHTS]}) nor an existing file"
            )
        return load_weights(weights)
    raise TypeError(
        "weights must be None, a registered name, a path or VeloWeights. "
        f"Received: {type(weights).__name__}"
    )
