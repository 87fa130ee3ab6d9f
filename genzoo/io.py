"""Save and load models without pickle.

A saved model is one safetensors file: its tensors (fitted arrays, and array-valued constructor
arguments) plus a JSON document in the file's header holding the registry name, the
constructor's params, the remaining fitted values, the genzoo version and the file-format
version. Loading parses JSON and raw tensors only, and instantiates only registered classes, so
an untrusted file cannot run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from genzoo._version import __version__

__all__ = ["FORMAT_VERSION", "MODEL_FILE", "load", "save"]

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"  # the file inside a saved folder
_META_KEY = "genzoo"


def _model_file(path: Path) -> Path:
    return path if path.suffix == ".safetensors" else path / MODEL_FILE


# --- JSON encoding of params and fitted values


def _encode(value, key: str, arrays: dict[str, np.ndarray]):
    """JSON-able form of `value`; arrays are moved into `arrays` and referenced by key."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "UO":
        # label arrays of strings or objects: safetensors holds numbers only
        items = value.tolist()
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in value.flat):
            raise TypeError(f"{key}: only arrays of numbers or strings can be saved")
        return {"__strings__": {"items": items, "shape": list(value.shape)}}
    if isinstance(value, np.ndarray):
        arrays[key] = np.ascontiguousarray(value)
        return {"__array__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{key}: only dicts with string keys can be saved")
        return {"__dict__": {k: _encode(v, f"{key}.{k}", arrays) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return _encode(value.detach().cpu().numpy(), key, arrays)
    if isinstance(value, torch.device):
        return str(value)
    if getattr(type(value), "_registry_name", None) and hasattr(value, "get_params"):
        # a model given as a parameter (a meta-model's estimator): its name and params
        params = _encode(value.get_params(deep=False), f"{key}.params", arrays)
        return {"__model__": {"name": type(value)._registry_name, "params": params}}
    raise TypeError(f"{key}: a {type(value).__name__} cannot be saved")


def _decode(value, arrays: dict[str, np.ndarray], source: Path):
    if isinstance(value, list):
        return [_decode(v, arrays, source) for v in value]
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"{source}: malformed entry {sorted(value)} in its metadata.")
        if "__array__" in value:
            key = value["__array__"]
            if key not in arrays:
                raise ValueError(f"{source} is missing tensor {key!r}; the file is incomplete.")
            return arrays[key]
        if "__strings__" in value:
            spec = value["__strings__"]
            return np.array(spec["items"]).reshape(spec["shape"])
        if "__model__" in value:
            from genzoo.registry import make

            spec = value["__model__"]
            return make(spec["name"], **_decode(spec["params"], arrays, source))
        if "__tuple__" in value:
            return tuple(_decode(v, arrays, source) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _decode(v, arrays, source) for k, v in value["__dict__"].items()}
        raise ValueError(f"{source}: unrecognised entry {sorted(value)} in its metadata.")
    return value


# --- public API


def save(model, path: str | os.PathLike) -> Path:
    """Write a fitted `model` to `path`: a folder, or one file if `path` ends in .safetensors.

    Returns the path of the written file.
    """
    name = type(model)._registry_name
    if name is None:
        raise TypeError(f"{type(model).__name__} is not registered, so it cannot be loaded back")
    path = Path(path)
    state_arrays, state_values = model._state()
    arrays: dict[str, np.ndarray] = {}
    meta = {
        "format_version": FORMAT_VERSION,
        "genzoo_version": __version__,
        "model": name,
        "params": _encode(model.get_params(deep=False), "param", arrays),
        "values": _encode(state_values, "value", arrays),
        "state": sorted(state_arrays),
    }
    for key, array in state_arrays.items():
        arrays[f"state.{key}"] = np.ascontiguousarray(array)
    target = _model_file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(arrays, str(target), metadata={_META_KEY: json.dumps(meta)})
    return target


def read_metadata(path: str | os.PathLike) -> dict:
    """Return the JSON metadata of a saved model without building it."""
    target = _model_file(Path(path))
    if not target.is_file():
        raise FileNotFoundError(f"no saved genzoo model at {path} (looked for {target}).")
    try:
        with safe_open(str(target), framework="np") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{target} is not a safetensors file: {err}") from None
    if _META_KEY not in header:
        raise ValueError(f"{target} is a safetensors file but not a saved genzoo model.")
    try:
        meta = json.loads(header[_META_KEY])
    except json.JSONDecodeError as err:
        raise ValueError(f"{target}: its genzoo metadata is not valid JSON ({err}).") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{target}: its genzoo metadata is malformed.")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{target} was written in genzoo file format {version} by genzoo "
            f"{meta.get('genzoo_version')}; this genzoo ({__version__}) reads format "
            f"{FORMAT_VERSION} and older. Upgrade genzoo to load it."
        )
    expected = {"model": str, "params": dict, "values": (dict, type(None)), "state": list}
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"{target}: its genzoo metadata has a malformed {key!r} entry.")
    return meta


def _check_names(names, target: Path) -> None:
    """Saved attribute names must be plain fitted names: no dunders, no dots, no params."""
    for name in names:
        plain = isinstance(name, str) and name.isidentifier() and not name.startswith("__")
        if not plain or not (name.endswith("_") or name.startswith("_")):
            raise ValueError(f"{target}: {name!r} is not a valid fitted attribute name.")


def load(path: str | os.PathLike):
    """Rebuild a model written by `save`; never unpickles."""
    from genzoo._validation import validate_params
    from genzoo.registry import make

    meta = read_metadata(path)
    target = _model_file(Path(path))
    with safe_open(str(target), framework="np") as f:
        arrays = {key: f.get_tensor(key) for key in f.keys()}
    params = _decode(meta["params"], arrays, target)
    values = _decode(meta["values"], arrays, target)
    missing = [k for k in meta["state"] if f"state.{k}" not in arrays]
    if missing:
        raise ValueError(
            f"{target} is missing tensor(s) {', '.join(map(repr, missing))}; the file is "
            "incomplete or was edited."
        )
    state = {k: arrays[f"state.{k}"] for k in meta["state"]}
    _check_names([*values, *(k.split(".", 1)[0] for k in state)], target)
    model = make(meta["model"], **params)  # unknown models and parameters are ValueErrors
    validate_params(model, model._parameter_constraints)
    try:
        model._set_state(state, values)
    except (AttributeError, KeyError, TypeError, IndexError, RuntimeError) as err:
        raise ValueError(f"{target}: the saved state does not fit {meta['model']}: {err}") from None
    return model
