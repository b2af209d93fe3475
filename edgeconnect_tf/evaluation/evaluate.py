"""The paper's evaluation: metrics by hole-ratio bucket, with OpenCV baselines.

For each image and its mask, the model's result and OpenCV's `cv2.inpaint`
(Telea; Navier–Stokes) on the same image and mask are scored with
`edgeconnect_tf.evaluation.metrics.image_metrics`: PSNR (data range 1), SSIM (uniform
51×51 window) and MAE Σ|gt − pred| / Σ(gt + pred) on grayscale copies, as the
authors' scripts compute them, plus RGB PSNR and SSIM. Results are averaged
per hole-ratio bucket (10–20 %, ..., 50–60 %, the paper's Table 1; ratios
outside them go to "<10%" or ">=60%") and over all images; FID per bucket and
overall when Inception features are given. `write_report` writes JSON, a
Markdown table and a comparison grid (`comparison_grid`: input · edges ·
EdgeConnect · Telea · Navier–Stokes · ground truth, a few rows per bucket).

Every method sees the masked image only: hole pixels are zeroed before
OpenCV runs, and `inpaint.inpaint` never passes them to the networks.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import cv2
import numpy as np

from edgeconnect_tf.files.io import (
    REFERENCE_JPEG_QUALITY,
    atomic_write,
    image_size,
    list_images,
    read_image,
    write_image,
)
from edgeconnect_tf.inpaint import InpaintError, inpaint, to_mask, to_rgb_uint8
from edgeconnect_tf.jobs import pair_files
from edgeconnect_tf.progress import Progress

# edgeconnect_tf.evaluation.metrics and .masks import TensorFlow: they are imported where used, so
# that `edgeconnect eval --help` (which reads MASK_TYPES) stays fast.

RATIO_BUCKETS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))  # masks.RATIO_BUCKETS
SSIM_WIN_SIZE = 51  # metrics.SSIM_WIN_SIZE

METHODS = ("edgeconnect", "telea", "navier_stokes")
METHOD_NAMES = {
    "edgeconnect": "EdgeConnect",
    "telea": "OpenCV Telea",
    "navier_stokes": "OpenCV Navier–Stokes",
}
METRICS = ("psnr", "ssim", "mae", "psnr_rgb", "ssim_rgb")
MASK_TYPES = ("block", "half", "free_form", "buckets")
OPENCV_RADIUS = 3  # cv2.inpaint's inpaintRadius


def bucket_label(ratio):
    """Hole ratio in [0, 1] -> "10-20%", ..., "50-60%", "<10%" or ">=60%"."""
    for low, high in RATIO_BUCKETS:
        if low <= ratio < high:
            return f"{round(low * 100)}-{round(high * 100)}%"
    return "<10%" if ratio < RATIO_BUCKETS[0][0] else ">=60%"


BUCKET_ORDER = ("<10%",) + tuple(bucket_label(low) for low, _ in RATIO_BUCKETS) + (">=60%",)


def opencv_inpaint(image, hole, method="telea", radius=OPENCV_RADIUS):
    """`cv2.inpaint` of a uint8 [H, W, 3] RGB image; known pixels unchanged.

    `hole`: [H, W] bool. `method`: "telea" or "navier_stokes". The hole pixels are
    zeroed first, so the ground truth cannot leak in.
    """
    flags = {"telea": cv2.INPAINT_TELEA, "navier_stokes": cv2.INPAINT_NS}
    if method not in flags:
        raise ValueError(f"method must be one of {sorted(flags)}, got {method!r}")
    image = np.asarray(image, np.uint8)
    hole = np.asarray(hole, bool)
    masked = np.where(hole[..., None], 0, image).astype(np.uint8)
    filled = cv2.inpaint(masked, hole.astype(np.uint8) * 255, radius, flags[method])
    return np.where(hole[..., None], filled, image)


# ------------------------------------------------------------------------------ grid

GRID_TILE = 256  # the comparison grid's panel height in px (larger results are scaled down)
GRID_PER_BUCKET = 3  # comparison rows per hole-ratio bucket in `edgeconnect eval`'s report
_CAPTION = 18  # px of the text strip above each row and the header


def _text_strip(width, text):
    strip = np.full((_CAPTION, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def grid_row(image, hole, results, edges=None, caption=""):
    """One comparison row's data: what `comparison_grid` lays out.

    image: uint8 [H, W, 3] ground truth; hole: bool [H, W]; results: {method:
    uint8 [H, W, 3]} (METHODS order); edges: optional float [H, W] in [0, 1],
    the edge map G2 saw.
    """
    return {"image": image, "hole": hole, "results": results, "edges": edges, "caption": caption}


def comparison_grid(rows, tile=GRID_TILE):
    """Rows of input with hole · edges · EdgeConnect · Telea · Navier–Stokes · ground truth.

    `rows`: `grid_row` dicts (all with the same methods). Each panel is scaled
    down to at most `tile` px high (never up); a caption strip sits above each
    row, the column names on top. One column layout for every row: all columns
    are as wide as the widest row's panels, and a row of narrower photos has its
    panels centred in their columns, so each header stands over its own panel in
    every row and no row ends in a blank half. The hole is white in the input
    panel, and the edges panel (when rows have edges) draws G1's lines in the
    hole in blue on the known region's Canny edges. Returns uint8 [H, W, 3] RGB.
    """
    from edgeconnect_tf.inpaint import to_rgb_uint8

    methods = list(rows[0]["results"])
    with_edges = any(r["edges"] is not None for r in rows)
    names = ["input with hole"] + (["edges (G1 in the hole)"] if with_edges else [])
    names += [METHOD_NAMES.get(m, m) for m in methods] + ["ground truth"]
    lines = []
    for row in rows:
        image, hole = to_rgb_uint8(row["image"]), np.asarray(row["hole"], bool)
        shown = image.copy()
        shown[hole] = 255
        panels = [shown]
        if with_edges:
            edges = np.zeros(hole.shape) if row["edges"] is None else np.asarray(row["edges"])
            edges = np.clip(edges, 0.0, 1.0)[..., None]
            line = np.where(hole[..., None], (40, 70, 220), (0, 0, 0))  # G1's lines blue
            panels.append(np.round(255 - edges * (255 - line)).astype(np.uint8))
        panels += [to_rgb_uint8(row["results"][m]) for m in methods] + [image]
        height, width = image.shape[:2]
        scale = min(1.0, tile / height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        panels = [cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in panels]
        lines.append((row["caption"], panels))
    column = max(panels[0].shape[1] for _, panels in lines)
    step = column + GRID_GAP
    width = len(names) * step - GRID_GAP
    header = _text_strip(width, "")
    for k, name in enumerate(names):
        cv2.putText(
            header,
            _fit_text(name, column - 6),
            (4 + k * step, 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    out = [header]
    for caption, panels in lines:
        h, w = panels[0].shape[:2]
        body = np.full((h, width, 3), 255, np.uint8)
        left = (column - w) // 2  # centred in its column
        for k, panel in enumerate(panels):
            body[:, k * step + left : k * step + left + w] = panel
        out += [_text_strip(width, caption), body]
    return np.concatenate(out, axis=0)


GRID_GAP = 4  # px of white between the grid's columns


def _fit_text(text, width):
    """`text` shortened with "." until it is at most `width` px in the grid's font."""

    def size(t):
        return cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, 0.42, 1)[0][0]

    if size(text) <= width:
        return text
    while len(text) > 1 and size(text + ".") > width:
        text = text[:-1]
    return text.rstrip() + "."


# ------------------------------------------------------------------------------ data


def pair_mask_files(images, data, masks, order=False):
    """Mask file for each image listed under `data`: `jobs.pair_files`' rule (relative path
    and name without extension; an image without a mask is an InpaintError naming it), or,
    with `order`, image i gets mask i mod len(masks) of the sorted mask list (how mask sets
    such as NVIDIA's irregular masks are used)."""
    if order:
        mask_files = list_images(masks, "--masks")
        return [mask_files[k % len(mask_files)] for k in range(len(images))]
    paired = pair_files(images, data, masks, "mask", required=False)
    missing = [os.path.basename(i) for i, m in zip(images, paired, strict=True) if m is None]
    if missing:
        raise InpaintError(
            f"no mask in {masks} for {len(missing)} image(s) ({', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}): masks pair with images by relative path "
            "and name without extension, or by sorted order with --mask-order"
        )
    return paired


def generated_mask(mask_type, height, width, seed, index):
    """A [H, W] bool hole from `edgeconnect_tf.data.masks`, a pure function of (seed, index).

    `mask_type`: "block" (half width × half height), "half" (left or right half),
    "free_form" (DeepFill v2 strokes) or "buckets" (free-form masks in the ratio
    bucket index mod 5 of 10–20 %, ..., 50–60 %, so each bucket gets its share).
    """
    import tensorflow as tf

    from edgeconnect_tf.data import masks

    if mask_type not in MASK_TYPES:
        raise InpaintError(f"mask type must be one of {MASK_TYPES}, got {mask_type!r}")
    key = tf.constant([seed, index], tf.int64)
    if mask_type == "buckets":
        low, high = RATIO_BUCKETS[index % len(RATIO_BUCKETS)]
        mask = masks.bucket_mask(key, height, width, low, high)
    else:
        mask = masks.mask_sampler(mask_type)(key, height, width, index)
    return np.asarray(mask)[..., 0] > 0.5


def center_resize(image, size):
    """Centre square crop resized to size × size (bilinear), as the reference's loader."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top : top + side, left : left + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)


def load_samples(data, masks=None, mask_type=None, seed=0, size=None, limit=None, mask_order=False):
    """The evaluation set as a list of dicts (lazy loaders) and a description.

    Each sample: {"name", "mask", "load": () -> (uint8 [H, W, 3] image, bool [H, W]
    hole), "check": () -> None, raising a ValueError naming an unusable file from
    its header alone (missing, not an image, too small for SSIM)}. Masks from
    files are resized to the image (nearest neighbour) and binarized at half their
    range; generated masks come from `generated_mask`.
    """
    if (masks is None) == (mask_type is None):
        raise InpaintError("give exactly one of a mask directory or a mask type")
    images = list_images(data, "--data")
    if limit is not None:
        images = images[:limit]
    info = {"data": data, "images": len(images), "size": size, "seed": seed}
    if masks is not None:
        pairs = pair_mask_files(images, data, masks, order=mask_order)
        info.update(masks=masks, mask_pairing="order" if mask_order else "name")
    else:
        pairs = [None] * len(images)
        info.update(mask_type=mask_type)

    def loader(index, image_path, mask_path):
        def check():
            height, width = (size, size) if size is not None else image_size(image_path)
            if size is not None:
                image_size(image_path)  # readable
            if min(height, width) < SSIM_WIN_SIZE:
                raise InpaintError(
                    f"image {image_path} is {width}×{height}: SSIM needs at "
                    f"least {SSIM_WIN_SIZE}×{SSIM_WIN_SIZE} (see --size)"
                )
            if mask_path is not None:
                image_size(mask_path, "mask")

        def load():
            image = to_rgb_uint8(read_image(image_path), name=f"image {image_path}")
            if size is not None:
                image = center_resize(image, size)
            mask = None if mask_path is None else read_image(mask_path, "mask")
            if mask is None:
                hole = generated_mask(mask_type, *image.shape[:2], seed, index)
            else:
                hole = to_mask(mask, image.shape[:2], resize=True)
            return image, hole

        return load, check

    samples = [
        {
            "name": os.path.relpath(p, data) if os.path.isdir(data) else os.path.basename(p),
            "mask": m if m is None else os.path.basename(m),
            "load": load,
            "check": check,
        }
        for k, (p, m) in enumerate(zip(images, pairs, strict=True))
        for load, check in [loader(k, p, m)]
    ]
    return samples, info


# ------------------------------------------------------------------------ evaluation


def evaluate(
    model,
    samples,
    *,
    baselines=True,
    inception=None,
    tiling="auto",
    progress=True,
    save_dir=None,
    reference=False,
    grid_per_bucket=GRID_PER_BUCKET,
):
    """Scores the model (and baselines) on `samples` (see `load_samples`).

    Args:
        model: an `EdgeConnect`.
        baselines: also run OpenCV Telea and Navier–Stokes.
        inception: None, or a `metrics.InceptionFeatures` for FID.
        tiling: `inpaint.inpaint`'s tiling; "auto" runs images of up to 512 px whole
            (the paper's protocol) and larger ones, or a `.tflite` file's, in windows.
        progress: show progress naming each image (`progress.Progress`).
        save_dir: if given, write each method's result to save_dir/METHOD/NAME.png.
        reference: the authors' protocol: the model runs their test()
            (`inpaint(..., reference=True)`, native size), and each method's
            result is written to save_dir/METHOD/NAME with the input's extension
            (JPEG at quality 75, as their imsave) and scored from that file.
        grid_per_bucket: the first this many images of each hole-ratio bucket
            become rows of a `comparison_grid` (0: no grid).

    Returns:
        The report dict: {"methods", "per_image": [{"image", "mask", "hole_ratio",
        "bucket", METHOD: {metric: value}}], "buckets": [{"bucket", "count",
        METHOD: {metric: mean, "fid": value or None}}]} with "all" as the last bucket,
        and "grid": the comparison grid, uint8 [H, W, 3] (None without rows);
        `write_report` writes it as comparison.png.
    """
    from edgeconnect_tf.evaluation import metrics

    methods = METHODS if baselines else METHODS[:1]
    if reference and save_dir is None:
        raise ValueError("reference=True scores written files: give save_dir")
    if reference and tiling not in ("auto", "full"):
        raise ValueError(f"reference=True runs at native size (tiling 'full'), got {tiling!r}")
    steps = Progress(len(samples)).iterate(samples, lambda s: s["name"]) if progress else samples
    per_image, grid_rows, shown = [], [], {}
    features = {m: [] for m in ("ground_truth",) + methods} if inception is not None else None
    for sample in steps:
        image, hole = sample["load"]()
        ratio = float(hole.mean())
        results = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty or full masks are scored as is
            results["edgeconnect"], edges = inpaint(
                model,
                image,
                hole,
                tiling=tiling,
                reference=reference,
                **getattr(model, "inpaint_options", {}),  # a .tflite file's window rule
            )
        for method in methods[1:]:
            results[method] = opencv_inpaint(image, hole, method)
        if reference:
            results = {
                m: _written_and_read(save_dir, m, sample["name"], results[m]) for m in methods
            }
        row = {
            "image": sample["name"],
            "mask": sample["mask"],
            "hole_ratio": ratio,
            "bucket": bucket_label(ratio),
        }
        for method in methods:
            row[method] = metrics.image_metrics(image, results[method])
        per_image.append(row)
        if shown.get(row["bucket"], 0) < grid_per_bucket:
            shown[row["bucket"]] = shown.get(row["bucket"], 0) + 1
            caption = f"{sample['name']}, hole {ratio:.0%}: PSNR (gray, image) " + ", ".join(
                f"{METHOD_NAMES[m]} {row[m]['psnr']:.1f}" for m in methods
            )
            grid_rows.append(grid_row(image, hole, results, edges, caption))
        if features is not None:
            features["ground_truth"].append(inception.extract(image[None])[0])
            for method in methods:
                features[method].append(inception.extract(results[method][None])[0])
        if save_dir is not None and not reference:
            for method in methods:
                path = os.path.join(save_dir, method, os.path.splitext(sample["name"])[0] + ".png")
                write_image(path, results[method])
    order = {label: k for k, label in enumerate(BUCKET_ORDER)}
    grid_rows.sort(key=lambda r: order[bucket_label(float(np.mean(r["hole"])))])
    return {
        "methods": list(methods),
        "per_image": per_image,
        "buckets": summarize(per_image, methods, features),
        "grid": comparison_grid(grid_rows) if grid_rows else None,
    }


def _written_and_read(save_dir, method, name, result):
    """Writes `result` to save_dir/method/name (the authors' file) and reads it back."""
    path = os.path.join(save_dir, method, name)
    write_image(path, result, jpeg_quality=REFERENCE_JPEG_QUALITY)
    return to_rgb_uint8(read_image(path), name=f"result {path}")


def summarize(per_image, methods, features=None):
    """Per-bucket means of each metric (and FID from `features`), then "all".

    Buckets without images are left out. FID needs at least 2 images in a bucket
    (None otherwise); it is unreliable below a few thousand.
    """
    from edgeconnect_tf.evaluation import metrics

    groups = {label: [] for label in BUCKET_ORDER}
    for k, row in enumerate(per_image):
        groups[row["bucket"]].append(k)
    groups = {label: idx for label, idx in groups.items() if idx}
    groups["all"] = list(range(len(per_image)))
    out = []
    for label, idx in groups.items():
        entry = {"bucket": label, "count": len(idx)}
        for method in methods:
            values = {m: float(np.mean([per_image[k][method][m] for k in idx])) for m in METRICS}
            if features is not None:
                values["fid"] = None
                if len(idx) >= 2:
                    real = np.stack([features["ground_truth"][k] for k in idx])
                    fake = np.stack([features[method][k] for k in idx])
                    values["fid"] = metrics.fid_from_features(real, fake)
            entry[method] = values
        out.append(entry)
    return out


# --------------------------------------------------------------------------- reports


def _clean(value):
    """JSON-safe: non-finite floats (PSNR of identical images) become None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value, digits):
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.{digits}f}"


def markdown_table(report):
    """The report's bucket means as a Markdown table (ℓ1 = MAE in %)."""
    has_fid = any("fid" in b[m] for b in report["buckets"] for m in report["methods"])
    head = "| Hole ratio | Method | n | PSNR ↑ | SSIM ↑ | ℓ1 (%) ↓ | PSNR RGB ↑ | SSIM RGB ↑ |"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|"
    if has_fid:
        head += " FID ↓ |"
        rule += "---:|"
    lines = [head, rule]
    for bucket in report["buckets"]:
        for method in report["methods"]:
            v = bucket[method]
            cells = [
                bucket["bucket"],
                METHOD_NAMES.get(method, method),
                str(bucket["count"]),
                _fmt(v["psnr"], 2),
                _fmt(v["ssim"], 3),
                _fmt(v["mae"] * 100, 2),
                _fmt(v["psnr_rgb"], 2),
                _fmt(v["ssim_rgb"], 3),
            ]
            if has_fid:
                cells.append(_fmt(v.get("fid"), 2))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_report(report):
    """A short Markdown document: settings, the table and what the metrics are."""
    info = report.get("config", {})
    settings = ", ".join(f"{k}: {v}" for k, v in info.items() if v is not None)
    return (
        "# EdgeConnect evaluation\n\n"
        + (f"{settings}\n\n" if settings else "")
        + markdown_table(report)
        + (
            "\n![input · edges · EdgeConnect · Telea · Navier–Stokes · ground truth]"
            "(comparison.png)\n"
            if report.get("grid") is not None
            else ""
        )
        + "\nPSNR (data range 1), SSIM (uniform 51×51 window) and ℓ1 = Σ|gt − pred| / "
        "Σ(gt + pred) on grayscale copies (0.2125 R + 0.7154 G + 0.0721 B), as the "
        "authors' scripts; PSNR/SSIM RGB on the colour images. Known pixels are "
        "composited for every method. FID (if present) uses Keras InceptionV3 pool "
        "features and is not comparable to the paper's (torchvision weights).\n"
    )


def write_report(report, directory):
    """Writes metrics.json, metrics.md and (if the report has one) the comparison grid
    comparison.png into `directory`, atomically; returns the paths written."""
    os.makedirs(directory, exist_ok=True)
    json_path = os.path.join(directory, "metrics.json")
    md_path = os.path.join(directory, "metrics.md")
    grid = report.get("grid")
    data = {k: v for k, v in report.items() if k != "grid"}
    atomic_write(json_path, json.dumps(_clean(data), indent=2, allow_nan=False) + "\n")
    atomic_write(md_path, markdown_report(report))
    paths = [json_path, md_path]
    if grid is not None:
        paths.append(os.path.join(directory, "comparison.png"))
        write_image(paths[-1], grid)
    return tuple(paths)
