"""`EdgeConnect`: the two-stage inpainting model at inference ("lines first, color next").

image, mask -> gray -> Canny edges of the known part -> G1 edges in the hole
-> G2 colours guided by the edges -> composite with the known pixels.

Stage by stage (the editor's "Redraw edges" and "Repaint"): `complete_edges(image,
mask)` is the edge map G2 would see (G1 in the hole, Canny outside), `repaint(image,
mask, edge_map)` runs G2 alone on a full edge map; `call` is exactly their composition.
"""

import keras
import tensorflow as tf

from edgeconnect_tf.data.canny import canny
from edgeconnect_tf.data.image_ops import (
    composite,
    edge_generator_inputs,
    inpaint_generator_inputs,
    pad_to_multiple,
    rgb_to_gray,
)
from edgeconnect_tf.networks import EdgeGenerator, InpaintGenerator
from edgeconnect_tf.nn.conv_mode import check_conv_mode
from edgeconnect_tf.weights import load_networks, save_networks


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class EdgeConnect(keras.Model):
    """G1 + G2 at test time, any H and W (reflect-padded to multiples of 4 inside).

    Call with a dict:
        image: [B, H, W, 3] float32 in [0, 1]
        mask:  [B, H, W, 1] float32 in {0, 1}, 1 = hole
        edges: optional [B, H, W, 1] float32 in [0, 1], lines drawn by a person;
               inside the hole they replace G1's prediction (sketch guidance).
        edge_map: optional [B, H, W, 1] float32 in [0, 1], a full edge map (as the
               `edges` output or `complete_edges`, possibly edited): G2 alone runs on
               it as given, no Canny, no G1 (`repaint`). Not with `edges`.
    Returns a dict:
        inpainted: [B, H, W, 3] float32 in [0, 1], known pixels unchanged
        edges:     [B, H, W, 1] the edge map G2 saw: Canny of the known part
                   outside the hole, G1's raw output (or the drawn edges) inside
        raw:       [B, H, W, 3] G2's output before compositing

    Two paths. The default feeds G2 the composite G1·m + Canny·(1 − m), the edge
    map G2 is trained on and the one the authors' training, validation and
    `sample()` use (the paper's C_comp). `reference=True` (a `call` argument,
    `inpaint(..., reference=True)`, `--reference` on the command line) is the
    authors' `test()`, which produced their released results and the paper's
    published numbers: G2 sees G1's raw edge map over the whole image, at the
    image's native size, Canny runs in float64 on the image's 8-bit levels (as
    skimage on their uint8 files), and `inpaint` truncates the result to uint8
    as `(x · 255).int()` does. Use it to reproduce the paper; drawn edges are not
    part of it.

    `conv_mode` says how the generators compute their convolutions, same
    weights and pixels to float32 rounding (hole PSNR > 100 dB against
    direct): "graph" (the default: Winograd residual blocks and matmul forms
    in plain TF ops, any size, 1.4–2.5× faster per image than "direct" on CPU,
    AVX2 and AVX-512: bench/RESULTS.md), "direct" (oneDNN's convolutions) or
    "xla" (one XLA cluster per block, compiled per input size). Set when the
    model is built or loaded (`with_conv_mode` gives a copy in another mode);
    see `edgeconnect_tf.nn.conv_mode`.

    Example:
    >>> model = EdgeConnect.from_pretrained("weights/places2")
    >>> out = model({"image": image, "mask": mask})
    """

    def __init__(
        self,
        edge_generator=None,
        inpaint_generator=None,
        sigma=2.0,
        residual_blocks=None,
        filters=None,
        conv_mode=None,
        **kwargs,
    ):
        """Keeps the generators it is given (none: fresh ones of `residual_blocks` blocks and
        `filters` filters, default 8 and 64, computing in `conv_mode`, default "graph").

        `residual_blocks`, `filters`, `conv_mode` left out are the given generators'; one
        that differs from a given generator's is a ValueError (`with_conv_mode` and
        `generator.rebuilt(conv_mode=...)` give copies in another mode).
        """
        super().__init__(**kwargs)
        given = [g for g in (edge_generator, inpaint_generator) if g is not None]
        settings = {"residual_blocks": residual_blocks, "filters": filters, "conv_mode": conv_mode}
        for key, value in settings.items():
            found = {getattr(g, key) for g in given}
            if value is None and len(found) > 1:
                raise ValueError(f"EdgeConnect: the generators differ in {key} ({sorted(found)})")
            if value is not None and found - {value}:
                raise ValueError(
                    f"EdgeConnect({key}={value!r}) was given a generator with {key}="
                    f"{found.pop()!r}; leave {key} out to keep the generator's"
                    + (" or use its .rebuilt(conv_mode=...)" if key == "conv_mode" else "")
                )
            settings[key] = value if value is not None else found.pop() if found else None
        self.sigma = float(sigma)
        defaults = {"residual_blocks": 8, "filters": 64, "conv_mode": "graph"}
        settings = {k: defaults[k] if v is None else v for k, v in settings.items()}
        self.residual_blocks, self.filters = settings["residual_blocks"], settings["filters"]
        self.conv_mode = check_conv_mode(settings["conv_mode"])
        size = {"residual_blocks": self.residual_blocks, "filters": self.filters}
        self.edge_generator = edge_generator or EdgeGenerator(**size, conv_mode=self.conv_mode)
        self.inpaint_generator = inpaint_generator or InpaintGenerator(
            **size, conv_mode=self.conv_mode
        )

    @classmethod
    def from_pretrained(cls, directory, sigma=None, conv_mode="graph"):
        """Loads G1 and G2 from a weights directory (see `edgeconnect_tf.weights`).

        `sigma`: Canny's σ, default the directory's (`save_pretrained`) or 2.
        `conv_mode`: see the class docstring; the default "graph" is the
        fastest measured on AVX2 and AVX-512 CPUs.
        """
        nets, config = load_networks(directory, conv_mode=conv_mode)
        return cls(
            nets["edge_generator"],
            nets["inpaint_generator"],
            sigma=config.get("sigma", 2.0) if sigma is None else sigma,
            residual_blocks=config.get("residual_blocks", 8),
            filters=config.get("filters", 64),
            conv_mode=conv_mode,
        )

    def save_pretrained(self, directory):
        """Writes G1 and G2 as a weights directory that `from_pretrained` reads."""
        self._build_generators()
        networks = {"edge_generator": self.edge_generator}
        networks["inpaint_generator"] = self.inpaint_generator
        save_networks(directory, networks, sigma=self.sigma)
        return directory

    def with_conv_mode(self, conv_mode, tflite_ops=False):
        """A copy whose generators compute in `conv_mode` (and, with `tflite_ops`, with the
        ops TFLite's delegates take: see `networks`), same weights; `self` if nothing changes."""
        if conv_mode == self.conv_mode and not tflite_ops:
            return self
        self._build_generators()
        rebuilt = {
            name: getattr(self, name).rebuilt(conv_mode=conv_mode, tflite_ops=tflite_ops)
            for name in ("edge_generator", "inpaint_generator")
        }
        return type(self)(
            **rebuilt,
            sigma=self.sigma,
            residual_blocks=self.residual_blocks,
            filters=self.filters,
            conv_mode=conv_mode,
            dtype=self.dtype_policy,  # e.g. float32 inputs under a mixed policy (bench/)
        )

    def _build_generators(self):
        for network in (self.edge_generator, self.inpaint_generator):
            if not network.built:
                network(tf.zeros((1, 32, 32, network.input_channels)))

    def export(self, filepath, format="tf_saved_model", **kwargs):
        """`keras.Model.export`, routed to `edgeconnect_tf.deploy` (named signatures, limits);
        returns None, as Keras' does.

        format "tf_saved_model": `deploy.export_saved_model(self, filepath, **kwargs)`;
        "litert"/"tflite": `deploy.export_tflite(self, filepath, **kwargs)` (those
        functions return what they wrote: the path, the file's op counts).
        """
        from edgeconnect_tf import deploy

        if format == "tf_saved_model":
            deploy.export_saved_model(self, filepath, **kwargs)
        elif format in ("litert", "tflite"):
            deploy.export_tflite(self, filepath, **kwargs)
        else:
            raise ValueError(
                f"format {format!r}: EdgeConnect exports 'tf_saved_model' or 'litert' "
                "(edgeconnect_tf.deploy; `edgeconnect export` on the command line)"
            )

    def predict_edges(self, gray, edges, mask, training=False):
        """G1's raw edge map [B, H, W, 1] (see `image_ops.edge_generator_inputs`)."""
        inputs = edge_generator_inputs(gray, edges, mask)
        return self.edge_generator(inputs, training=training)

    def predict_image(self, image, edges, mask, training=False):
        """G2's raw output [B, H, W, 3] (see `image_ops.inpaint_generator_inputs`)."""
        inputs = inpaint_generator_inputs(image, edges, mask, self.inpaint_generator.hole_fill)
        return self.inpaint_generator(inputs, training=training)

    def inpaint(self, image, mask, edges=None, tiling="auto", reference=False, **kwargs):
        """numpy in, numpy out: (uint8 RGB [H, W, 3], edge map [H, W] float32).

        Any size and mode (gray, RGB, RGBA, 8/16-bit; masks bool, 0-1 or 0-255,
        white = hole). See `edgeconnect_tf.inpaint.inpaint` for `tiling`;
        `reference=True` is the authors' test() (class docstring); `edge_map=` a full
        edge map (the one returned, edited) runs G2 alone ("Repaint"). The model
        runs as `inference_function`, not eagerly.
        """
        from edgeconnect_tf.inpaint import inpaint

        return inpaint(
            self._call_compiled,
            image,
            mask,
            edges,
            tiling=tiling,
            reference=reference,
            **kwargs,
        )

    def inpaint_edges(self, image, mask, **options):
        """numpy: the edge map G2 would see, [H, W] float32, G1 and Canny only
        (`edgeconnect_tf.inpaint.complete_edges`; `options` as `inpaint`'s tiling options).
        Edit it in the hole and pass it back as `inpaint(image, mask, edge_map=...)`."""
        from edgeconnect_tf.inpaint import complete_edges

        return complete_edges(self._call_compiled, image, mask, **options)

    def inference_function(self, with_edges=False, reference=False, stage=None):
        """`call(training=False)` as a `tf.function` of (image, mask[, edges]) -> outputs dict.

        `stage`: None (the whole pipeline, `call`), "edges" ((image, mask) -> the edge map
        [B, H, W, 1] of `complete_edges`) or "repaint" ((image, mask, edge_map) -> `repaint`'s
        dict). Shapes as `call`'s inputs. Traced once for all sizes (dynamic H and W),
        or once per input shape in "xla" conv mode (its clusters need static
        shapes). Kept outside Keras' attribute tracking (exports never see it).
        """
        if stage not in (None, "edges", "repaint"):
            raise ValueError(f"stage must be None, 'edges' or 'repaint', got {stage!r}")
        if stage is not None and (with_edges or reference):
            raise ValueError(f"stage {stage!r} takes neither drawn edges nor reference=True")
        cache = self.__dict__.get("_inference_functions")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_inference_functions", cache)
        key = (bool(with_edges), bool(reference), stage)
        if key not in cache:
            names = ("image", "mask", "edges") if with_edges else ("image", "mask")
            if stage == "repaint":
                names = ("image", "mask", "edge_map")
            channels = {"image": 3, "mask": 1, "edges": 1, "edge_map": 1}
            signature = None
            if self.conv_mode != "xla":
                signature = [tf.TensorSpec([None, None, None, channels[k]]) for k in names]

            def run(*tensors):
                inputs = dict(zip(names, tensors, strict=True))
                if stage == "edges":
                    return self.complete_edges(*tensors)
                return self.call(inputs, training=False, reference=reference)

            cache[key] = tf.function(run, input_signature=signature, autograph=False)
        return cache[key]

    def _call_compiled(self, inputs, training=False, reference=False):
        """`self(inputs)` through `inference_function` (what `inpaint` runs).

        An `edge_map` input runs G2 alone (`repaint`); `stage="edges"` in `inputs` returns
        {"inpainted": image, "edges": the completed edge map} (what `inpaint_edges` runs).
        """
        if inputs.get("stage") == "edges":
            image = tf.convert_to_tensor(inputs["image"], tf.float32)
            mask = tf.convert_to_tensor(inputs["mask"], tf.float32)
            edges = self.inference_function(stage="edges")(image, mask)
            return {"inpainted": image, "edges": edges}
        if inputs.get("edge_map") is not None:
            names, stage = ("image", "mask", "edge_map"), "repaint"
        elif inputs.get("edges") is not None:
            names, stage = ("image", "mask", "edges"), None
        else:
            names, stage = ("image", "mask"), None
        tensors = [tf.convert_to_tensor(inputs[k], tf.float32) for k in names]
        if stage == "repaint":
            return self.inference_function(stage="repaint")(*tensors)
        return self.inference_function(len(names) == 3, reference)(*tensors)

    def complete_edges(self, image, mask, training=False):
        """The edge map G2 would see, from image [B, H, W, 3] and mask [B, H, W, 1] alone:
        G1's raw output inside the hole, Canny of the known part outside ([B, H, W, 1]).

        `repaint(image, mask, complete_edges(image, mask))` is `call`'s output, bit for
        bit (`call` runs exactly that); edit the map in the hole and repaint to steer the fill.
        """
        image = tf.convert_to_tensor(image, tf.float32)
        mask = tf.convert_to_tensor(mask, tf.float32)
        padded_image, (h, w) = _pad4(image)
        padded_mask, _ = _pad4(mask)
        gray = rgb_to_gray(padded_image)
        known_edges = canny(gray, sigma=self.sigma, mask=1.0 - padded_mask)
        hole_edges = self.predict_edges(gray, known_edges, padded_mask, training=training)
        return composite(hole_edges, known_edges, padded_mask)[:, :h, :w]

    def repaint(self, image, mask, edge_map, training=False):
        """G2 alone on a full edge map [B, H, W, 1] in [0, 1] (`complete_edges`' output,
        edited or not), taken as given inside and outside the hole: no Canny, no G1.

        Returns `call`'s dict: inpainted (known pixels unchanged), edges (`edge_map`), raw.
        """
        image = tf.convert_to_tensor(image, tf.float32)
        mask = tf.convert_to_tensor(mask, tf.float32)
        edge_map = tf.convert_to_tensor(edge_map, tf.float32)
        padded_image, (h, w) = _pad4(image)
        padded_mask, _ = _pad4(mask)
        padded_edges, _ = _pad4(edge_map)
        raw = self.predict_image(padded_image, padded_edges, padded_mask, training=training)
        raw = raw[:, :h, :w]
        return {"inpainted": composite(raw, image, mask), "edges": edge_map, "raw": raw}

    def call(self, inputs, training=False, reference=False):
        drawn = inputs.get("edges")
        edge_map = inputs.get("edge_map")
        if edge_map is not None:
            if drawn is not None or reference:
                raise ValueError("edge_map (G2 alone) takes no drawn edges and no reference=True")
            return self.repaint(inputs["image"], inputs["mask"], edge_map, training=training)
        if reference and drawn is not None:
            raise ValueError("reference=True (the authors' test()) takes no drawn edges")
        if drawn is None and not reference:  # lines first, color next: stage by stage
            edges = self.complete_edges(inputs["image"], inputs["mask"], training=training)
            return self.repaint(inputs["image"], inputs["mask"], edges, training=training)
        image = tf.convert_to_tensor(inputs["image"], tf.float32)
        mask = tf.convert_to_tensor(inputs["mask"], tf.float32)
        padded_image, (h, w) = pad_to_multiple(image)
        padded_mask, _ = pad_to_multiple(mask)
        gray = rgb_to_gray(padded_image)
        known_edges = canny(
            _reference_gray(padded_image) if reference else gray,
            sigma=self.sigma,
            mask=1.0 - padded_mask,
        )
        if drawn is None:
            hole_edges = self.predict_edges(gray, known_edges, padded_mask, training=training)
        else:
            hole_edges, _ = pad_to_multiple(tf.convert_to_tensor(drawn, tf.float32))
        # reference: the authors' test() feeds G2 G1's raw map over the whole image.
        edges = hole_edges if reference else composite(hole_edges, known_edges, padded_mask)
        raw = self.predict_image(padded_image, edges, padded_mask, training=training)
        raw = raw[:, :h, :w]
        return {
            "inpainted": composite(raw, image, mask),
            "edges": edges[:, :h, :w],
            "raw": raw,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "edge_generator": keras.saving.serialize_keras_object(self.edge_generator),
            "inpaint_generator": keras.saving.serialize_keras_object(self.inpaint_generator),
            "sigma": self.sigma,
            "residual_blocks": self.residual_blocks,
            "filters": self.filters,
            "conv_mode": self.conv_mode,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("edge_generator", "inpaint_generator"):
            if isinstance(config.get(name), dict):
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)


def _pad4(x):
    """`pad_to_multiple(x)`, skipped where the static H and W are multiples of 4 already: an
    exported `.tflite` then holds no MIRROR_PAD of nothing (XNNPACK does not take MIRROR_PAD,
    so each one ends a delegated partition). Same values either way."""
    h, w = x.shape[1], x.shape[2]
    if isinstance(h, int) and isinstance(w, int) and h % 4 == 0 and w % 4 == 0:
        return x, (h, w)
    return pad_to_multiple(x)


def _reference_gray(image):
    """[B, H, W, 1] float64 gray of an 8-bit image, as skimage's rgb2gray of the authors' uint8.

    Their Canny runs in float64; in float32 a magnitude within rounding of a
    threshold can flip one edge pixel, and G1's whole output with it.
    """
    levels = tf.round(tf.cast(image, tf.float64) * 255.0)
    return rgb_to_gray(levels / 255.0)
