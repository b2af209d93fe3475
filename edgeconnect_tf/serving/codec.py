"""TF Serving's REST bodies <-> named tensors.

Requests: `{"signature_name": ..., "instances": [...]}` (row format) or
`{"inputs": {...}}` (columnar), binary values as `{"b64": ...}`. Responses:
`{"predictions": rows}` or `{"outputs": columns}`, outputs whose name ends in
`_bytes` base64-encoded.
"""

import base64
import binascii
import json
import re

import numpy as np

from edgeconnect_tf.serving.limits import RequestError


def parse_request(body):
    """TF Serving REST body (bytes) -> (signature name, {input name: values}, row_format).

    Values: a list (one per instance) of bytes (`{"b64": ...}`) or float32 arrays.
    Raises RequestError (400) naming what is malformed.
    """
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"body is not valid JSON: {e.msg if hasattr(e, 'msg') else e}") from None
    except RecursionError:
        raise RequestError("body is not valid JSON: nested too deeply") from None
    if not isinstance(request, dict):
        raise RequestError("body must be a JSON object with 'instances' or 'inputs'")
    signature = request.get("signature_name", "serving_default")
    if not isinstance(signature, str):
        raise RequestError("'signature_name' must be a string")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError("body must have exactly one of 'instances' (rows) or 'inputs' (columns)")
    if "instances" in request:
        rows = request["instances"]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise RequestError("'instances' must be a non-empty list of objects")
        names = set(rows[0])
        if any(set(r) != names for r in rows):
            raise RequestError("every instance must have the same input names")
        columns = {n: [_decode_value(r[n], n) for r in rows] for n in sorted(names)}
        row_format = True
    else:
        inputs = request["inputs"]
        if not isinstance(inputs, dict) or not inputs:
            raise RequestError("'inputs' must be a non-empty object of named inputs")
        columns = {}
        for n, v in inputs.items():
            decoded = _decode_value(v, n)
            if isinstance(decoded, bytes):
                decoded = [decoded]
            elif not isinstance(decoded, list) and decoded.ndim == 0:
                raise RequestError(f"input {n!r}: expected a batch (a list), got one number")
            columns[n] = decoded if isinstance(decoded, list) else list(decoded)
        row_format = False
    return signature, columns, row_format


def _decode_value(value, name):
    """JSON value -> bytes (for {"b64": ...}) or a numpy array."""
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise RequestError(f'input {name!r}: a binary value must be {{"b64": "..."}}')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"input {name!r}: 'b64' is not valid base64") from None
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_decode_value(v, name) for v in value]
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(f'input {name!r}: expected numbers or {{"b64": ...}}') from None


def to_tensor(values, name):
    """One parsed input column -> a string tensor [N] or a float32 tensor [N, ...]."""
    import tensorflow as tf

    if isinstance(values, list) and values and isinstance(values[0], bytes):
        return tf.constant(values, dtype=tf.string)
    try:
        return tf.constant(np.stack([np.asarray(v, np.float32) for v in values]))
    except ValueError:
        raise RequestError(f"input {name!r}: instances have different shapes") from None


def format_response(outputs, row_format):
    """Signature outputs -> TF Serving's {"predictions": rows} or {"outputs": columns}."""
    arrays = {n: np.asarray(t.numpy() if hasattr(t, "numpy") else t) for n, t in outputs.items()}
    encoded = {n: _encode_output(n, a) for n, a in arrays.items()}
    if not row_format:
        return {"outputs": encoded if len(encoded) > 1 else next(iter(encoded.values()))}
    batch = len(next(iter(encoded.values())))
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    return {"predictions": [{n: v[i] for n, v in encoded.items()} for i in range(batch)]}


def _encode_output(name, array):
    if name.endswith("_bytes"):
        flat = [{"b64": base64.b64encode(bytes(b)).decode("ascii")} for b in array.reshape(-1)]
        return flat if array.ndim else flat[0]
    return array.tolist()


def object_array(items):
    """A list of bytes -> a numpy object array [N] (what `format_response` encodes)."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def error_summary(message):
    """The line of a TensorFlow error that says what was wrong, without graph details."""
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]", "", message)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for line in lines:
        if "assertion failed" in line or "Expected" in line or "must" in line:
            return line[:500]
    useful = [
        line
        for line in lines
        if not line.startswith(("Graph execution error", "Detected at node", "[[", "File "))
    ]
    return (useful[-1] if useful else lines[0] if lines else "invalid request")[:500]
