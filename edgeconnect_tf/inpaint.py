"""Inpainting numpy images of any size and mode with a trained `EdgeConnect` model.

`inpaint(model, image, mask)` takes what a person has at hand (uint8, uint16 or
float [0, 1] images; gray, RGB or RGBA; bool / 0–1 / 0–255 masks with one or
three channels) and returns a uint8 RGB image of the input size whose known
pixels are the input's, bit for bit, plus the edge map the colour network saw.

Tilings (the networks were trained on 256×256 images with holes of 10–60 %
of the area; their receptive field is about 220 px):
    full    the whole image at its native size, as the reference's test mode.
    crop    a window around each hole (at least `window` px, twice the hole's
            bounding box, clamped to the image; overlapping windows merged);
            each window runs at native size, or scaled down to `max_side` when
            it is larger, and only its hole pixels are pasted back.
    resize  the whole image scaled to a long side of `max_side`; only the hole
            pixels are upsampled and pasted back.
    auto    `full` when the image's long side is at most `max_side`, `crop`
            otherwise (see `choose_tiling`).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

TILINGS = ("auto", "full", "crop", "resize")
TRAIN_SIZE = 256  # side of the images the networks were trained on
MAX_SIDE = 512  # largest side run at native resolution by "crop"/"auto"/"resize"
MIN_SIDE = 9  # padded to 12: the residual blocks reflect-pad 2 px at 1/4 resolution (3 px)


class InpaintError(ValueError):
    """An input the inpainting cannot use: unreadable file, wrong size, bad mask."""


# ----------------------------------------------------------------------------- inputs


def to_rgb_uint8(image, name="image"):
    """Any supported image -> [H, W, 3] uint8 RGB (what `inpaint` keeps bit-exactly).

    Accepts [H, W], [H, W, 1] (gray), [H, W, 2] (gray + alpha), [H, W, 3] (RGB) or
    [H, W, 4] (RGBA; alpha is dropped), as uint8, uint16 (rounded x / 257), bool or
    float in [0, 1] (rounded x · 255).
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 2, 3, 4):
        raise InpaintError(
            f"{name} must have shape [H, W] or [H, W, C] with C in 1..4, got {arr.shape}"
        )
    if min(arr.shape[:2]) < MIN_SIDE:
        raise InpaintError(f"{name} must be at least {MIN_SIDE}×{MIN_SIDE} px, got {arr.shape[:2]}")
    if arr.shape[-1] in (2, 4):  # drop alpha
        arr = arr[..., :-1]
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = ((arr.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)  # round(x / 257)
    elif arr.dtype == np.bool_:
        out = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InpaintError(f"{name} contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise InpaintError(
                f"float {name} must be in [0, 1], got values in [{lo:g}, {hi:g}] "
                "(divide 0–255 data by 255, or pass uint8)"
            )
        out = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise InpaintError(f"{name} must be uint8, uint16, bool or float, got dtype {arr.dtype}")
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return np.ascontiguousarray(out)


def _binarize(arr, name):
    """[H, W] or [H, W, C] bool / 0–1 / 0–255 -> [H, W] bool (> half of the value range).

    Several channels: a pixel is set if any colour channel is; an alpha channel (C of
    2 or 4) clears the transparent pixels.
    """
    arr = np.asarray(arr)
    if arr.ndim == 3:
        if arr.shape[-1] not in (1, 2, 3, 4):
            raise InpaintError(f"{name} must have 1 or 3 channels, got shape {arr.shape}")
        alpha = arr[..., -1] if arr.shape[-1] in (2, 4) else None
        color = arr[..., :-1] if alpha is not None else arr
        out = _binarize(color.max(axis=-1), name)
        if alpha is not None:
            out &= _binarize(alpha, name + " alpha")
        return out
    if arr.ndim != 2:
        raise InpaintError(f"{name} must have shape [H, W] or [H, W, C], got {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.copy()
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InpaintError(f"{name} must be bool, integer or float, got dtype {arr.dtype}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise InpaintError(f"{name} contains NaN or infinite values")
    lo = float(arr.min()) if arr.size else 0.0
    hi = float(arr.max()) if arr.size else 0.0
    if lo < 0:
        raise InpaintError(f"{name} must not be negative, got minimum {lo:g}")
    if hi <= 1:
        top = 1.0
    elif hi <= 255 or arr.dtype == np.uint8:
        top = 255.0
    elif arr.dtype == np.uint16 or hi <= 65535:
        top = 65535.0
    else:
        raise InpaintError(f"{name} values must be 0–1, 0–255 or 0–65535, got maximum {hi:g}")
    return arr > top / 2


def _match_size(arr, shape, name, resize):
    """Resizes (nearest) `arr` to `shape` [H, W] if allowed, else errors on a mismatch."""
    arr = np.asarray(arr)
    if arr.shape[:2] == tuple(shape):
        return arr
    if not resize:
        raise InpaintError(
            f"{name} size {arr.shape[1]}×{arr.shape[0]} differs from the image's "
            f"{shape[1]}×{shape[0]} (W×H); pass resize_mask=True (CLI: --resize-mask) to resize it"
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    out = cv2.resize(arr, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def to_mask(mask, shape=None, resize=False):
    """A mask in any supported format -> [H, W] bool, True = hole.

    `mask`: bool, 0–1 or 0–255 (uint8 / float) or 0–65535, shape [H, W], [H, W, 1] or
    [H, W, 3] (a pixel is a hole if any channel is above half of the range; an alpha
    channel, if any, must be opaque too). `shape`: the image's (H, W); a different
    size is an error unless `resize` (nearest neighbour).
    """
    arr = np.asarray(mask)
    if shape is not None:
        arr = _match_size(arr, shape, "mask", resize)
    return _binarize(arr, "mask")


def to_edges(edges, shape=None, resize=False):
    """Drawn guidance lines -> [H, W] float32 in [0, 1] (1 = edge).

    Accepts bool, uint8 (0–255), uint16 or float in [0, 1], gray or RGB(A) (the
    brightest colour channel counts).
    """
    arr = np.asarray(edges)
    if shape is not None:
        arr = _match_size(arr, shape, "edges", resize)
    if arr.ndim == 3:
        if arr.shape[-1] in (2, 4):
            arr = arr[..., :-1]
        arr = arr.max(axis=-1)
    if arr.ndim != 2:
        raise InpaintError(f"edges must have shape [H, W] or [H, W, C], got {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
            raise InpaintError("float edges must be finite and in [0, 1]")
        return np.clip(arr, 0.0, 1.0).astype(np.float32)
    raise InpaintError(f"edges must be bool, uint8, uint16 or float, got dtype {arr.dtype}")


# ------------------------------------------------------------------------- tilings


def hole_windows(hole, window=TRAIN_SIZE):
    """Windows (y0, y1, x0, x1) around the holes of a [H, W] bool mask.

    Each 8-connected hole gets a window of max(`window`, 2 × its bounding box) per
    side, centred on the box and shifted/clamped into the image. Overlapping windows
    are merged into their bounding box until none overlap, so every hole lies
    wholly inside exactly one window.
    """
    hole = np.asarray(hole, bool)
    height, width = hole.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    boxes = []
    for x, y, w, h, _ in stats[1:count]:
        boxes.append(
            (*_span(y, h, height, window), *_span(x, w, width, window))  # y0, y1, x0, x1
        )
    while True:
        canvas = np.zeros((height, width), np.uint8)
        for y0, y1, x0, x1 in boxes:
            canvas[y0:y1, x0:x1] = 1
        count, _, stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=4)
        merged = [(int(y), int(y + h), int(x), int(x + w)) for x, y, w, h, _ in stats[1:count]]
        if len(merged) == len(boxes):
            return sorted(merged)
        boxes = merged


def _span(start, size, limit, window):
    """A [lo, hi) interval of length max(window, 2·size) centred on [start, start+size)."""
    length = min(limit, max(window, 2 * size))
    lo = start + size // 2 - length // 2
    lo = min(max(lo, 0), limit - length)
    return int(lo), int(lo + length)


def choose_tiling(image_shape, max_side=MAX_SIDE):
    """The tiling "auto" uses: "full" if max(H, W) <= max_side, else "crop".

    Why (argued from the training setup, not measured: no trained weights are
    available to this package's tests): the networks saw 256² images with holes of
    10–60 % of the area, and their receptive field is about 220 px. On an image of
    up to 2 × 256 px a side, the whole image is close to that regime and costs
    little. On a larger photo a small hole only needs its surroundings: a window of
    twice the hole's size keeps the hole at ≤ 25–50 % of the input, instance-norm
    statistics come from nearby content as in training, and compute and memory no
    longer grow with the photo. A hole too large for a `max_side` window is run at
    reduced scale inside "crop", so its middle still sees known pixels.
    """
    return "full" if max(image_shape[:2]) <= max_side else "crop"


# ---------------------------------------------------------------------------- running


def _run_model(model, image, hole, edges, reference=False, full_map=False):
    """One model call on uint8 [h, w, 3] / bool [h, w] / float [h, w] or None.

    `full_map`: `edges` is a full edge map, passed as the input `edge_map` (G2 alone).
    Returns (inpainted float32 [h, w, 3] in [0, 1], edge map float32 [h, w]).
    """
    inputs = {
        "image": (image.astype(np.float32) / 255.0)[None],
        "mask": hole.astype(np.float32)[None, ..., None],
    }
    if edges is not None:
        inputs["edge_map" if full_map else "edges"] = edges.astype(np.float32)[None, ..., None]
    out = model(inputs, training=False, **({"reference": True} if reference else {}))
    return np.array(out["inpainted"])[0], np.array(out["edges"])[0, ..., 0]


def _run_scaled(model, image, hole, edges, max_side, full_map=False):
    """`_run_model` at a long side of at most `max_side`, results upsampled to full size.

    The small mask marks a pixel as hole if any pixel it covers is one, so no hole
    content reaches the networks. Drawn lines are thickened back to full strength after
    the area resize; a full edge map (`full_map`) is area-averaged only. Returns
    full-size (inpainted, edges); only their hole pixels are meant to be used.
    """
    height, width = hole.shape
    scale = max_side / max(height, width)
    if scale >= 1:
        return _run_model(model, image, hole, edges, full_map=full_map)
    size = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
    small_image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    small_edges = None
    if edges is not None:
        # Area averaging thins a 1-px line to ~scale; scale drawn lines back up to full strength.
        small_edges = cv2.resize(edges, size, interpolation=cv2.INTER_AREA)
        if not full_map:
            small_edges = small_edges / scale
        small_edges = np.clip(small_edges, 0.0, 1.0).astype(np.float32)
    filled, edge_map = _run_model(model, small_image, small_hole, small_edges, full_map=full_map)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    edge_map = cv2.resize(edge_map, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(filled, 0.0, 1.0), np.clip(edge_map, 0.0, 1.0)


def inpaint(
    model,
    image,
    mask,
    edges=None,
    tiling="auto",
    resize_mask=False,
    window=TRAIN_SIZE,
    max_side=MAX_SIDE,
    reference=False,
    edge_map=None,
    **renamed,
):
    """Fills the holes of one image.

    Args:
        model: an `EdgeConnect` (or anything called like it).
        image: numpy [H, W], [H, W, 1|2|3|4] uint8 / uint16 / float in [0, 1] (see
            `to_rgb_uint8`). Any H, W >= 9.
        mask: [H, W] or [H, W, 1|3], bool / 0–1 / 0–255; hole where > half the range.
        edges: optional drawn guidance lines (see `to_edges`), image-sized; inside the
            hole they replace the edge network's prediction.
        tiling: "auto", "full", "crop" or "resize" (module docstring).
        resize_mask: resize a mask (and edges) of another size to the image's
            (nearest neighbour) instead of raising.
        window, max_side: the crop window's minimum side; the largest side run at
            native resolution by "crop" and "resize".
        reference: the authors' test(): G2 fed G1's raw edge map over the whole
            image (see `EdgeConnect`), native size ("auto" means "full"; "crop" and
            "resize" are errors, as are drawn edges), the result truncated
            (x · 255 -> uint8) instead of rounded.
        edge_map: a full edge map instead of `edges` (see `to_edges` for its formats):
            G2 alone paints along it, taken as given inside and outside the hole (no
            Canny, no G1): the editor's "Repaint". Fed the edge map an `inpaint` call
            returned (same tiling), it gives that call's pixels: exactly with "full"
            and with "crop" windows run at native size; a window scaled down sees the
            upsampled map scaled down again, close but not bit for bit.

    Returns:
        (result [H, W, 3] uint8 RGB, edges [H, W] float32 in [0, 1]): the known
        pixels of `result` equal `to_rgb_uint8(image)` exactly; `edges` is the edge
        map the colour network saw: Canny of the known region outside the hole, the
        prediction (or the drawn lines) inside. With "resize" it is upsampled from
        the reduced size; with "crop" it is 0 outside the windows (not computed
        there: a full-size Canny would cost more than the windows on a big photo);
        for a mask without holes it is all 0.

    Warns (UserWarning) for a mask without hole pixels (the image comes back
    unchanged) and for a mask that is all hole.
    """
    if renamed:
        new = {"strategy": "tiling"}
        name = next(iter(renamed))
        raise TypeError(
            f"inpaint() got an unexpected keyword argument {name!r}"
            + (
                f": it is now {new[name]}= (training's strategy is tf.distribute's)"
                if name in new
                else ""
            )
        )
    if tiling not in TILINGS:
        raise InpaintError(f"tiling must be one of {TILINGS}, got {tiling!r}")
    if reference and tiling not in ("auto", "full"):
        raise InpaintError(
            f"reference=True runs the authors' test() at native size: tiling must be "
            f"'full' (or 'auto'), got {tiling!r}"
        )
    if reference and (edges is not None or edge_map is not None):
        raise InpaintError("reference=True (the authors' test()) takes no drawn edges or edge map")
    if edges is not None and edge_map is not None:
        raise InpaintError(
            "give drawn lines (edges) or a full edge map (edge_map), not both: "
            "draw the lines into the edge map"
        )
    full_map = edge_map is not None
    rgb = to_rgb_uint8(image)
    shape = rgb.shape[:2]
    hole = to_mask(mask, shape, resize=resize_mask)
    lines = edge_map if full_map else edges
    drawn = None if lines is None else to_edges(lines, shape, resize=resize_mask)

    if not hole.any():
        warnings.warn("mask has no hole pixels: the image is returned unchanged", stacklevel=2)
        return rgb.copy(), np.zeros(shape, np.float32)
    if hole.all():
        warnings.warn(
            "mask covers the whole image: the result is generated without any known pixels",
            stacklevel=2,
        )
    if tiling == "auto":
        tiling = "full" if reference else choose_tiling(shape, max_side)

    if tiling == "crop":  # window by window into the uint8 result: no full-size float copy
        result = rgb.copy()
        edge_map = np.zeros(shape, np.float32)  # not computed outside the windows
        for y0, y1, x0, x1 in hole_windows(hole, window):
            win = (slice(y0, y1), slice(x0, x1))
            sub = None if drawn is None else drawn[win]
            part, part_edges = _run_scaled(model, rgb[win], hole[win], sub, max_side, full_map)
            inside = hole[win]
            result[win][inside] = _to_uint8(part[inside], reference)
            edge_map[win] = np.clip(part_edges, 0.0, 1.0)
        return result, edge_map
    if tiling == "full":
        filled, edge_map = _run_model(model, rgb, hole, drawn, reference, full_map)
    else:  # resize
        filled, edge_map = _run_scaled(model, rgb, hole, drawn, max_side, full_map)
    result = np.where(hole[..., None], _to_uint8(filled, reference), rgb)
    return result, np.clip(edge_map, 0.0, 1.0).astype(np.float32)


def complete_edges(model, image, mask, **options):
    """The edge map `inpaint` would hand G2 (G1 in the hole, Canny of the known part
    outside), without running G2: [H, W] float32 in [0, 1], tiled as `inpaint` with the
    same `options` (tiling, resize_mask, window, max_side) tiles, so that
    `inpaint(model, image, mask, edge_map=complete_edges(model, image, mask))` is
    `inpaint(model, image, mask)` (see `inpaint`'s `edge_map`).

    `model` is called with the input `stage="edges"` and answers {"edges": the map,
    "inpainted": anything of the image's shape} (`EdgeConnect` does; so does the
    server's `edges` signature).
    """
    if "edges" in options or "edge_map" in options or options.get("reference"):
        raise InpaintError("complete_edges takes no drawn edges, edge map or reference=True")

    def edges_only(inputs, training=False):
        out = model({**inputs, "stage": "edges"}, training=training)
        return {"inpainted": inputs["image"], "edges": out["edges"]}

    return inpaint(edges_only, image, mask, **options)[1]


def _to_uint8(filled, reference=False):
    """float [0, 1] -> uint8: rounded, or truncated as the authors' (x · 255).int()."""
    filled8 = np.clip(filled, 0.0, 1.0) * np.float32(255.0)
    return (filled8 if reference else np.round(filled8)).astype(np.uint8)
