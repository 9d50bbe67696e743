"""Load and save VeLO weights files and carry them with their identity."""

import dataclasses
import hashlib
import os
from pathlib import Path

import jax
import numpy as np

from velo_core.velo.architecture import (
    VeloArchitecture,
    check_supported,
    check_theta,
    infer_architecture,
)
from velo_core.velo.checkpoint import (
    WeightsFileError,
    decode_checkpoint,
    encode_checkpoint,
)


@dataclasses.dataclass(frozen=True, eq=False)
class VeloWeights:
    """Hold loaded VeLO weights (theta), their architecture and where they came from.

    `sha256` is the hash of the file's bytes; a job records it with `name`.
    """

    name: str
    sha256: str
    path: str | None
    theta: dict
    arch: VeloArchitecture
    gen_id: str = ""
    step: int = 0

    def record(self) -> dict[str, str]:
        """Return the identity a training job stores: name and sha256."""
        return {"weights_name": self.name, "weights_sha256": self.sha256}


def sha256_of_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_from_bytes(data: bytes, name: str, path: str | None = None):
    """Decode, infer the architecture of and check checkpoint bytes."""
    theta, gen_id, step = decode_checkpoint(data)
    try:
        arch = infer_architecture(theta)
        check_supported(arch)
        check_theta(theta, arch)
    except WeightsFileError:
        raise
    except ValueError as error:
        raise WeightsFileError(f"{path or name}: {error}") from error
    return VeloWeights(
        name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        path=path,
        theta=theta,
        arch=arch,
        gen_id=gen_id,
        step=step,
    )


def load_weights(path: str | os.PathLike, name: str | None = None) -> VeloWeights:
    """Load a VeLO weights file; `name` defaults to the file name."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VeLO weights file not found: {path}")
    data = path.read_bytes()
    try:
        return weights_from_bytes(data, name or path.name, str(path))
    except WeightsFileError as error:
        raise WeightsFileError(f"{path}: {error}") from error


def save_weights(
    path: str | os.PathLike,
    theta,
    gen_id: str = "",
    step: int = 0,
) -> str:
    """Check theta, write it in the checkpoint format and return the file's sha256."""
    arch = infer_architecture(theta)
    check_supported(arch)
    host_theta = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf), theta)
    check_theta(host_theta, arch)
    data = encode_checkpoint(host_theta, gen_id=gen_id, step=step)
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return hashlib.sha256(data).hexdigest()
