"""Read and write the msgpack checkpoint format of published VeLO weights.

The file is one msgpack map {"params": theta, "gen_id": str, "step": int}. Nested
dicts are maps with string keys. The LSTM initial state is a map with keys "hidden"
and "cell". Every array is a msgpack extension of type 1 whose payload is a msgpack
array [shape, dtype name, raw C-order little-endian bytes]. Type 3 stores a numpy
scalar the same way.
"""

import msgpack
import numpy as np

from velo_core.velo.state import LstmState

_NDARRAY_EXT = 1
_SCALAR_EXT = 3
_TOP_LEVEL_KEYS = ("params", "gen_id", "step")


class WeightsFileError(ValueError):
    """Raised when a VeLO weights file is unreadable or has the wrong structure."""


def _decode_array(code: int, payload: bytes):
    if code not in (_NDARRAY_EXT, _SCALAR_EXT):
        raise WeightsFileError(f"unknown msgpack extension type {code}")
    try:
        shape, dtype_name, raw = msgpack.unpackb(payload, raw=False)
        dtype = np.dtype(dtype_name).newbyteorder("<")
        array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise WeightsFileError(f"malformed array payload: {error}") from error
    array = array.astype(array.dtype.newbyteorder("="))
    return array[()] if code == _SCALAR_EXT else array


def _restore_lstm_state(node):
    if set(node) == {"hidden", "cell"}:
        return LstmState(hidden=node["hidden"], cell=node["cell"])
    if set(node) == {"name", "fields", "values"}:
        # Older writers stored namedtuples as name, field list and value list.
        values = dict(zip(node["fields"], node["values"], strict=False))
        return _restore_lstm_state(values)
    raise WeightsFileError(
        "params/lstm_init_state must hold 'hidden' and 'cell'. "
        f"Received keys: {sorted(node)}"
    )


def decode_checkpoint(data: bytes) -> tuple[dict, str, int]:
    """Decode checkpoint bytes into (theta, gen_id, step); theta keeps the file keys."""
    try:
        document = msgpack.unpackb(
            data, ext_hook=_decode_array, raw=False, strict_map_key=False
        )
    except WeightsFileError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise WeightsFileError(
            f"not a complete msgpack document ({type(error).__name__}: {error}); "
            "the file is truncated or not a VeLO checkpoint"
        ) from error
    if not isinstance(document, dict) or "params" not in document:
        found = sorted(document) if isinstance(document, dict) else type(document)
        raise WeightsFileError(
            "not a VeLO checkpoint: expected a map with keys "
            f"{list(_TOP_LEVEL_KEYS)}. Received: {found}"
        )
    theta = document["params"]
    if not isinstance(theta, dict):
        raise WeightsFileError(f"'params' must be a map. Received: {type(theta)}")
    if isinstance(theta.get("lstm_init_state"), dict):
        theta["lstm_init_state"] = _restore_lstm_state(theta["lstm_init_state"])
    return theta, str(document.get("gen_id", "")), int(document.get("step", 0))


def _encode_tree(node):
    if isinstance(node, LstmState):
        return {"hidden": _encode_tree(node.hidden), "cell": _encode_tree(node.cell)}
    if isinstance(node, dict):
        return {key: _encode_tree(node[key]) for key in sorted(node)}
    array = np.asarray(node)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    payload = msgpack.packb(
        [list(array.shape), array.dtype.name, np.ascontiguousarray(little).tobytes()]
    )
    return msgpack.ExtType(_NDARRAY_EXT, payload)


def encode_checkpoint(theta, gen_id: str = "", step: int = 0) -> bytes:
    """Encode theta with its generation id and step in the checkpoint format."""
    document = {"params": _encode_tree(theta), "gen_id": gen_id, "step": int(step)}
    return msgpack.packb(document, use_bin_type=True)
