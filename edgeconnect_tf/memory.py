"""Memory of a long-running inference process: its RSS, and TensorFlow's per-shape state
kept bounded (`FrozenSignature`).

Why (bench/RESULTS.md, "Serving memory under many image sizes"): on x86 TensorFlow runs
convolutions through oneDNN, and its oneDNN kernels keep every primitive they build (JIT
code and descriptors, about 0.15 MiB each) in an LRU cache per kernel kind *per inter-op
thread*, keyed by the tensor shapes, 1024 entries each, not configurable. The networks
build a dozen primitives per image size, so a process that sees many sizes (a photo
service: every phone and crop has its own) grows by about 2 MiB per new size, on each of
its inter-op threads, for thousands of sizes. A fixed size stays flat; oneDNN off
(`TF_ENABLE_ONEDNN_OPTS=0`) stays flat too but runs up to 1.5× slower.

The caches die with their threads. `FrozenSignature` runs a tensor signature as a frozen
graph in a `tf.compat.v1.Session` with its own inter-op threads, and replaces the session
(its threads, and their caches with them) once it has seen `max_shapes` distinct input
shapes; a fixed-size workload never replaces it. Same answers bit for bit (the graph is
the signature's, its variables folded to constants).
"""

import ctypes
import ctypes.util
import gc
import threading

DEFAULT_MAX_SHAPES = 32  # distinct input shapes per session before it is replaced


def _status_bytes(field):
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_bytes():
    """This process's resident set size now (VmRSS), bytes; None where unknown."""
    return _status_bytes("VmRSS")


def peak_rss_bytes():
    """This process's peak resident set size (VmHWM, or getrusage's maxrss), bytes."""
    peak = _status_bytes("VmHWM")
    if peak is None:
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except (ImportError, OSError):
            return None
    return peak


_libc = None


def malloc_trim():
    """Gives glibc malloc's free heap pages back to the OS (`malloc_trim(0)`); False where
    the C library has no such call (musl, macOS)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        except OSError:
            _libc = False
    trim = getattr(_libc, "malloc_trim", None) if _libc else None
    if trim is None:
        return False
    trim(0)
    return True


def frozen_graph_def(fn, lower_control_flow=True):
    """A concrete function's graph with its variables folded into constants (control flow
    lowered to switches unless `lower_control_flow=False`): (GraphDef, input tensor names,
    output tensor names), in `fn.inputs` order (variables left out) and `fn.outputs` order.

    The steps of TensorFlow's `convert_variables_to_constants_v2` without its last one,
    which wraps the GraphDef back into a concrete function by copying every op in Python
    (11 of its 13 s for the full-size `serving_default`, 12 450 ops); a session only needs
    the GraphDef. A TensorFlow without those private steps gets the whole conversion."""
    from tensorflow.python.framework import convert_to_constants as convert

    converter = getattr(convert, "_FunctionConverterDataInEager", None)
    replace = getattr(convert, "_replace_variables_by_constants", None)
    if converter is None or replace is None:
        frozen = convert.convert_variables_to_constants_v2(fn, lower_control_flow)
        names = [[t.name for t in tensors] for tensors in (frozen.inputs, frozen.outputs)]
        return frozen.graph.as_graph_def(), *names
    data = converter(func=fn, lower_control_flow=lower_control_flow, aggressive_inlining=False)
    graph_def, folded = replace(data)
    captures = fn.graph.internal_captures
    folded = {id(captures[index]) for index in folded}
    inputs = [t.name for t in fn.inputs if id(t) not in folded]
    return graph_def, inputs, [t.name for t in fn.outputs]


class FrozenSignature:
    """A tensor signature (a concrete function of named tensors -> dict of tensors, or a
    function traced on first use: one with `get_concrete_function()`) run as a frozen graph
    in a session replaced after `max_shapes` distinct input shapes.

    Called like the signature (keyword tensors or arrays); returns a dict of numpy arrays.
    Frozen on the first call (a second or two). `max_shapes=None`: one session for good
    (no bound; for comparison). Thread-safe (one run at a time).
    """

    def __init__(self, fn, max_shapes=DEFAULT_MAX_SHAPES, names=None):
        self.fn = fn
        self.max_shapes = max_shapes
        self.names = names  # input names of positional specs without one (in order)
        self.sessions = 0  # sessions opened so far
        self._shapes = set()
        self._session = None
        self._graph = None
        self._lock = threading.Lock()

    def _freeze(self):
        import tensorflow as tf

        fn = self.fn  # a concrete function, or one traced on first use (`load_signatures`)
        if hasattr(fn, "get_concrete_function"):
            fn = fn.get_concrete_function()
        graph_def, inputs, outputs = frozen_graph_def(fn)
        args, kwargs = fn.structured_input_signature
        positional = [spec.name for spec in args]
        if self.names and args:  # specs without names (`EdgeConnect.inference_function`)
            positional = list(self.names)[: len(args)]
        names = list(positional) + sorted(kwargs)
        self._inputs = dict(zip(names, inputs, strict=True))
        self._outputs = dict(zip(sorted(fn.structured_outputs), outputs, strict=True))
        graph = tf.Graph()
        with graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
        self._graph = graph
        del graph_def
        gc.collect()  # the conversion's graph copies hang in reference cycles (~130 MiB)
        malloc_trim()  # freezing leaves ~1 GiB of freed graph copies in malloc's heap

    def freeze(self):
        """Freezes the graph and opens its session now (a server, before its first request)."""
        with self._lock:
            if self._graph is None:
                self._freeze()
            if self._session is None:
                self._open()

    def _open(self):
        import tensorflow as tf

        if self._session is not None:
            self._session.close()
            self._session = None
            malloc_trim()
        config = tf.compat.v1.ConfigProto(use_per_session_threads=True)
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)
        self._shapes = set()
        self.sessions += 1

    def __call__(self, **tensors):
        import numpy as np

        arrays = {
            k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in tensors.items()
        }
        shape = tuple(sorted((k, a.shape) for k, a in arrays.items()))
        with self._lock:
            if self._graph is None:
                self._freeze()
            unknown = set(arrays) - set(self._inputs)
            if unknown:
                raise TypeError(
                    f"unexpected inputs {sorted(unknown)}; takes {sorted(self._inputs)}"
                )
            new = shape not in self._shapes
            full = self.max_shapes is not None and len(self._shapes) >= self.max_shapes
            if self._session is None or (new and full):
                self._open()
            self._shapes.add(shape)
            feed = {self._inputs[k]: a for k, a in arrays.items()}
            outputs = self._session.run(self._outputs, feed)
            if new:  # a session's first run of a shape optimizes the graph for it: its
                malloc_trim()  # freed copies (~1 GiB with full-size networks) go back
            return outputs

    def close(self):
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


class BoundedModel:
    """An `EdgeConnect`-like model (called with an inputs dict of image, mask[, edges])
    whose calls run as `FrozenSignature`s, for processes that see many image sizes
    (Beam workers). `signatures(with_edges)` -> a concrete function of (image, mask[,
    edges]) with dynamic shapes, or None to call `model` itself; `reference=True` calls
    always go to `model`. Returns numpy arrays."""

    def __init__(self, model, signatures, max_shapes=DEFAULT_MAX_SHAPES):
        self.model = model
        self._signatures = signatures
        self.max_shapes = max_shapes
        self._runners = {}

    @classmethod
    def of_edgeconnect(cls, model, max_shapes=DEFAULT_MAX_SHAPES):
        """Bounds `EdgeConnect.inference_function` (not in "xla" conv mode: its
        functions are traced per shape, so nothing is frozen there)."""
        if getattr(model, "conv_mode", None) == "xla":
            return cls(model, lambda with_edges: None, max_shapes)
        return cls(
            model,
            lambda with_edges: model.inference_function(with_edges).get_concrete_function(),
            max_shapes,
        )

    @property
    def sessions(self):
        return sum(r.sessions for r in self._runners.values() if r is not None)

    def __call__(self, inputs, training=False, reference=False):
        with_edges = inputs.get("edges") is not None
        if reference or training:
            extra = {"reference": True} if reference else {}
            return self.model(inputs, training=training, **extra)
        if with_edges not in self._runners:
            fn = self._signatures(with_edges)
            names = ("image", "mask", "edges") if with_edges else ("image", "mask")
            self._runners[with_edges] = fn and FrozenSignature(fn, self.max_shapes, names)
        runner = self._runners[with_edges]
        if runner is None:
            return self.model(inputs, training=False)
        names = ("image", "mask", "edges") if with_edges else ("image", "mask")
        return runner(**{k: inputs[k] for k in names})
