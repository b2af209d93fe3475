"""Inpainting hole masks as TensorFlow ops: `[H, W, 1]` float32, 1 = hole, 0 = known.

Every generator is a pure function of a shape-[2] integer `seed` (stateless
random ops), so it runs inside `tf.data.Dataset.map` and gives the same mask for
the same seed on every run. `height` and `width` may be Python ints or scalar
tensors (native image sizes in test mode).

Sources, as in the reference (its `MASK` config key, see `REFERENCE_MASKS`):

- `block_mask`: a (H // 2) x (W // 2) rectangle at a random position.
- `half_mask`: the left or the right half.
- `file_mask` / `random_file_mask`: irregular masks from image files (white =
  hole, any size, thresholded > 0 after a nearest-neighbour resize; random
  flips and 90-degree rotations when augmenting).
- `free_form_mask`: DeepFill v2's random brush strokes (not in the reference).
- `mixture_mask`: one of several sources with given probabilities (`PRESETS`).

For evaluation by hole size: `hole_ratio`, `bucket_mask` (free-form masks
grown until their ratio falls in a bucket such as 10-20 %) and
`filter_mask_files` (the files of a list whose ratio lies in a bucket).
`mask_sampler` turns a reference `MASK` value, a source name, a mixture or a
bucket into one `fn(seed, height, width, index)` for the data pipeline.
"""

import math
import numbers

import tensorflow as tf

# Hole-ratio buckets of the paper's evaluation (fractions of the image).
RATIO_BUCKETS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))

# The reference's MASK values: 1 random block, 2 half, 3 external (a random
# irregular-mask file), 4 external + random block, 5 external + random block +
# half (equal odds), 6 external file paired with the image by index (test mode).
REFERENCE_MASKS = {
    1: {"block": 1.0},
    2: {"half": 1.0},
    3: {"irregular": 1.0},
    4: {"block": 0.5, "irregular": 0.5},
    5: {"block": 1 / 3, "half": 1 / 3, "irregular": 1 / 3},
    6: {"paired": 1.0},
}
# Single sources ("external" is accepted for "irregular") and named mixtures.
SOURCES = ("block", "half", "irregular", "free_form", "paired")
PRESETS = {
    "block_irregular": {"block": 0.5, "irregular": 0.5},
    "block_half": {"block": 0.5, "half": 0.5},
    # All generated kinds and the files; without files, the generated kinds only.
    "mixed": {"block": 0.25, "half": 0.25, "free_form": 0.25, "irregular": 0.25},
}


def hole_ratio(mask):
    """Fraction of hole pixels: `[H, W, 1]` -> scalar, `[B, H, W, 1]` -> `[B]` (float32)."""
    mask = tf.cast(tf.convert_to_tensor(mask), tf.float32)
    if mask.shape.rank not in (3, 4):
        raise ValueError(f"`mask` must be [H, W, 1] or [B, H, W, 1], got shape {mask.shape}.")
    return tf.reduce_mean(mask, axis=[-3, -2, -1])


def _split(seed, n):
    return tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), n))


def _randint(seed, low, high):
    """Uniform int32 in [low, high) (tensor bounds allowed)."""
    return tf.random.stateless_uniform([], seed, low, high, dtype=tf.int32)


def _rect(height, width, top, left, rect_h, rect_w):
    """[H, W, 1] float32, 1 inside rows [top, top + rect_h) x cols [left, left + rect_w)."""
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    inside = (rows >= top) & (rows < top + rect_h) & (cols >= left) & (cols < left + rect_w)
    return tf.cast(inside, tf.float32)[..., None]


def block_mask(seed, height, width):
    """A (H // 2) x (W // 2) hole at a uniformly random position (reference MASK 1)."""
    seed_y, seed_x = _split(seed, 2)
    rect_h, rect_w = height // 2, width // 2
    top = _randint(seed_y, 0, height - rect_h + 1)
    left = _randint(seed_x, 0, width - rect_w + 1)
    return _rect(height, width, top, left, rect_h, rect_w)


def half_mask(seed, height, width):
    """The left or the right half (W // 2 columns, full height) as the hole (MASK 2)."""
    right = _randint(seed, 0, 2)
    return _rect(height, width, 0, right * (width // 2), height, width // 2)


def _aspect_window(shape, height, width):
    """(top, left, rows, cols) of the centred window of aspect height : width in `shape`."""
    h, w = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    th, tw = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    scale = tf.minimum(h / th, w / tw)
    rows = tf.clip_by_value(tf.cast(tf.round(th * scale), tf.int32), 1, shape[0])
    cols = tf.clip_by_value(tf.cast(tf.round(tw * scale), tf.int32), 1, shape[1])
    return (shape[0] - rows) // 2, (shape[1] - cols) // 2, rows, cols


def _nearest(out_size, in_size):
    """Source index of each of `out_size` outputs, as `tf.image.resize(method="nearest")`."""
    scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
    index = tf.floor((tf.cast(tf.range(out_size), tf.float32) + 0.5) * scale)
    return tf.minimum(tf.cast(index, tf.int32), in_size - 1)


def file_mask(path, height, width, *, seed=None, center_crop=False):
    """Irregular mask read from an image file (white = hole), resized to `height` x `width`.

    Args:
        path: scalar string tensor or str: PNG (also JPEG, BMP, 8- or 16-bit,
            gray or colour) of any size.
        height, width: output size.
        seed: None, or a shape-[2] seed for a random flip or rotation by a
            multiple of 90 degrees (each of the 8 equally likely).
        center_crop: crop the centre to the output's aspect ratio before
            resizing (what the reference does in training) instead of
            stretching the whole mask.

    Returns:
        `[height, width, 1]` float32: 1 where the nearest-neighbour resized
        mask is > 0.
    """
    data = tf.io.read_file(path)
    mask = tf.io.decode_image(data, channels=1, dtype=tf.uint16, expand_animations=False)
    if seed is None:
        transpose = flip_rows = flip_cols = tf.constant(False)
    else:  # transpose x up-down flip x left-right flip: the 8 flips and rotations
        transpose, flip_rows, flip_cols = (_randint(s, 0, 2) > 0 for s in _split(seed, 3))
    # Crop and resize to (src_h, src_w) by gathering rows and columns (reversed
    # index vectors flip), then transpose if drawn.
    src_h = tf.where(transpose, width, height)
    src_w = tf.where(transpose, height, width)
    shape = tf.shape(mask)
    if center_crop:
        top, left, rows, cols = _aspect_window(shape, src_h, src_w)
    else:
        top, left, rows, cols = 0, 0, shape[0], shape[1]
    row_index = top + _nearest(src_h, rows)
    col_index = left + _nearest(src_w, cols)
    reverse_rows = tf.where(transpose, flip_cols, flip_rows)
    reverse_cols = tf.where(transpose, flip_rows, flip_cols)
    row_index = tf.where(reverse_rows, tf.reverse(row_index, [0]), row_index)
    col_index = tf.where(reverse_cols, tf.reverse(col_index, [0]), col_index)
    mask = tf.gather(tf.gather(mask[..., 0], row_index), col_index, axis=1)
    mask = tf.cond(transpose, lambda: tf.transpose(mask), lambda: mask)
    mask = tf.reshape(mask, tf.stack([height, width, 1]))
    return tf.cast(mask > 0, tf.float32)


def random_file_mask(seed, paths, height, width, *, augment=True):
    """A uniformly chosen file of `paths` ([N] strings), centre-cropped (MASK 3).

    With `augment`, randomly flipped and rotated by multiples of 90 degrees.
    """
    paths = tf.convert_to_tensor(paths, tf.string)
    seed_pick, seed_aug = _split(seed, 2)
    path = paths[_randint(seed_pick, 0, tf.size(paths))]
    return file_mask(path, height, width, seed=seed_aug if augment else None, center_crop=True)


def _stroke_segments(seed, height, width, num_strokes, max_strokes, max_vertices, scale):
    """Line segments of DeepFill v2's brush strokes.

    Returns (start [N, 2], end [N, 2], radius [N], valid [N]) in (x, y) pixel
    coordinates with N = max_strokes * max_vertices; `valid` marks the segments
    of the first `num_strokes` strokes and of each stroke's own vertex count.
    """
    min_vertices, mean_angle, angle_range = 4, 2 * math.pi / 5, 2 * math.pi / 15
    min_width, max_width = 12.0 * scale, 40.0 * scale
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    average_radius = tf.sqrt(h * h + w * w) / 8.0
    s = (max_strokes,)
    seeds = _split(seed, 9)
    uniform = tf.random.stateless_uniform

    num_vertex = uniform(s, seeds[0], min_vertices, max_vertices + 1, dtype=tf.int32)
    angle_min = mean_angle - uniform(s, seeds[1], 0.0, angle_range)
    angle_max = mean_angle + uniform(s, seeds[2], 0.0, angle_range)
    unit = uniform((max_strokes, max_vertices), seeds[3])
    angles = angle_min[:, None] + unit * (angle_max - angle_min)[:, None]
    even = tf.range(max_vertices) % 2 == 0
    angles = tf.where(even[None, :], 2 * math.pi - angles, angles)
    radii = tf.random.stateless_normal(
        (max_strokes, max_vertices), seeds[4], average_radius, tf.floor(average_radius / 2)
    )
    radii = tf.clip_by_value(radii, 0.0, 2.0 * average_radius)
    x = tf.floor(uniform(s, seeds[5], 0.0, w))
    y = tf.floor(uniform(s, seeds[6], 0.0, h))
    widths = tf.floor(uniform(s, seeds[7], min_width, max_width))

    points = [tf.stack([x, y], axis=-1)]
    for i in range(max_vertices):  # each vertex clips the walk to the image
        x = tf.floor(tf.clip_by_value(x + radii[:, i] * tf.cos(angles[:, i]), 0.0, w))
        y = tf.floor(tf.clip_by_value(y + radii[:, i] * tf.sin(angles[:, i]), 0.0, h))
        points.append(tf.stack([x, y], axis=-1))
    points = tf.stack(points, axis=1)  # [S, V + 1, 2]
    valid = tf.range(max_vertices)[None, :] < num_vertex[:, None]
    valid &= tf.range(max_strokes)[:, None] < num_strokes
    radius = tf.broadcast_to(widths[:, None] / 2.0, (max_strokes, max_vertices))
    return (
        tf.reshape(points[:, :-1], (-1, 2)),
        tf.reshape(points[:, 1:], (-1, 2)),
        tf.reshape(radius, (-1,)),
        tf.reshape(valid, (-1,)),
    )


def _rasterize(start, end, radius, valid, height, width):
    """[H, W, 1] float32, 1 within `radius` of any valid segment (round-capped lines).

    Each segment is tested only inside its bounding box (a loop over the valid
    segments), about 4x faster than testing every pixel against every segment.
    """
    start, end = tf.boolean_mask(start, valid), tf.boolean_mask(end, valid)
    radius = tf.boolean_mask(radius, valid)
    size = tf.cast(tf.stack([width, height]), tf.float32)  # (x, y) order
    lower = tf.floor(tf.minimum(start, end) - radius[:, None])
    upper = tf.floor(tf.maximum(start, end) + radius[:, None]) + 1.0
    lower = tf.cast(tf.clip_by_value(lower, 0.0, size), tf.int32)
    upper = tf.cast(tf.clip_by_value(upper, 0.0, size), tf.int32)

    def draw(i, mask):
        a, d, r = start[i], end[i] - start[i], radius[i]
        x0, y0, x1, y1 = lower[i, 0], lower[i, 1], upper[i, 0], upper[i, 1]
        ax = tf.cast(tf.range(x0, x1), tf.float32)[None, :] - a[0]
        ay = tf.cast(tf.range(y0, y1), tf.float32)[:, None] - a[1]
        t = (ax * d[0] + ay * d[1]) / tf.maximum(tf.reduce_sum(d * d), 1e-12)
        t = tf.clip_by_value(t, 0.0, 1.0)  # nearest point of the segment
        dx, dy = ax - t * d[0], ay - t * d[1]
        inside = tf.cast(dx * dx + dy * dy <= r * r, tf.float32)
        inside = tf.pad(inside, [[y0, height - y1], [x0, width - x1]])
        return i + 1, tf.maximum(mask, tf.reshape(inside, tf.shape(mask)))

    _, mask = tf.while_loop(
        lambda i, mask: i < tf.shape(start)[0],
        draw,
        (tf.constant(0), tf.zeros(tf.stack([height, width]), tf.float32)),
    )
    return mask[..., None]


def _stroke_scale(height, width):
    """DeepFill's widths (12-40 px) are for 256 x 256; scale them with the image."""
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    return tf.sqrt(h * w) / 256.0


def free_form_mask(seed, height, width, *, max_strokes=3, max_vertices=11):
    """DeepFill v2's free-form brush-stroke mask (Yu et al. 2019, Algorithm 1).

    1 to `max_strokes` strokes; each a random walk of 4 to `max_vertices`
    segments with alternating angles around 2*pi/5 (+- up to 2*pi/15), step
    lengths ~ N(r, r/2) clipped to [0, 2r] with r = diagonal / 8, and a width
    drawn uniformly in [12, 40) px (scaled by sqrt(H * W) / 256), drawn with
    round caps; then random up-down and left-right flips.
    At 256 x 256 the hole ratio is typically 5-40 %.
    """
    seed_n, seed_strokes, seed_lr, seed_ud = _split(seed, 4)
    num_strokes = _randint(seed_n, 1, max_strokes + 1)
    segments = _stroke_segments(
        seed_strokes,
        height,
        width,
        num_strokes,
        max_strokes,
        max_vertices,
        _stroke_scale(height, width),
    )
    mask = _rasterize(*segments, height, width)
    mask = tf.cond(_randint(seed_lr, 0, 2) > 0, lambda: mask[:, ::-1], lambda: mask)
    return tf.cond(_randint(seed_ud, 0, 2) > 0, lambda: mask[::-1], lambda: mask)


def bucket_mask(seed, height, width, low, high, *, max_strokes=100):
    """A free-form mask whose hole ratio lies in [low, high), for evaluation by hole size.

    Adds one DeepFill stroke at a time until the ratio reaches `low`; a stroke
    that overshoots `high` starts the mask again. After `max_strokes` strokes
    in all it returns the last mask, in the bucket in practice (tests check
    every bucket of `RATIO_BUCKETS`).
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"Need 0 <= low < high <= 1 for a ratio bucket, got ({low}, {high}).")
    scale = _stroke_scale(height, width)
    empty = tf.zeros(tf.stack([height, width, 1]), tf.float32)

    def add_stroke(i, mask, ratio):
        stroke_seed = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), i)
        segments = _stroke_segments(stroke_seed, height, width, 1, 1, 11, scale)
        grown = tf.maximum(mask, _rasterize(*segments, height, width))
        grown_ratio = tf.reduce_mean(grown)
        over = grown_ratio >= high
        return (
            i + 1,
            tf.where(over, empty, grown),
            tf.where(over, tf.constant(0.0), grown_ratio),
        )

    _, mask, _ = tf.while_loop(
        lambda i, mask, ratio: ratio < low,
        add_stroke,
        (tf.constant(0, tf.int64), empty, tf.constant(0.0)),
        maximum_iterations=max_strokes,
    )
    return mask


def mixture_mask(seed, makers, probabilities):
    """One of `makers` (callables seed -> mask) chosen with `probabilities` (sum to 1)."""
    if len(makers) != len(probabilities) or not makers:
        raise ValueError("`makers` and `probabilities` must be non-empty and of equal length.")
    if len(makers) == 1:
        return makers[0](seed)
    seed_pick, seed_mask = _split(seed, 2)
    logits = tf.math.log(tf.constant([list(probabilities)], tf.float32))
    pick = tf.random.stateless_categorical(logits, 1, seed_pick, dtype=tf.int32)[0, 0]
    return tf.switch_case(pick, [lambda m=m: m(seed_mask) for m in makers])


def filter_mask_files(paths, low, high):
    """The paths (Python list) of mask files whose hole ratio lies in [low, high).

    Reads every file once (eagerly); use it to build an evaluation list of
    irregular masks for one ratio bucket.
    """
    kept = []
    for path in paths:
        data = tf.io.read_file(path)
        mask = tf.io.decode_image(data, channels=1, dtype=tf.float32, expand_animations=False)
        ratio = float(tf.reduce_mean(tf.cast(mask > 0.0, tf.float32)))
        if low <= ratio < high:
            kept.append(path)
    return kept


def _normalize_spec(mask, have_files):
    """A code, name, preset, {name: probability} or (low, high) -> dict or (low, high)."""
    expected = "a MASK code 1-6, a source or preset name, a {name: probability} dict or a bucket"
    if isinstance(mask, bool):
        raise ValueError(f"`mask` must be {expected}, got {mask!r}.")
    if isinstance(mask, numbers.Integral):
        if mask not in REFERENCE_MASKS:
            raise ValueError(f"`mask` code must be one of 1-6 (the reference's MASK), got {mask}.")
        return REFERENCE_MASKS[mask]
    if isinstance(mask, tuple | list):
        if len(mask) != 2 or not 0.0 <= mask[0] < mask[1] <= 1.0:
            raise ValueError(f"A ratio bucket `mask` must be (low, high) in [0, 1], got {mask}.")
        return (float(mask[0]), float(mask[1]))
    if isinstance(mask, str):
        if mask == "mixed" and not have_files:
            mask = {k: v for k, v in PRESETS["mixed"].items() if k != "irregular"}
        else:
            mask = PRESETS.get(mask, {mask: 1.0})
    if not isinstance(mask, dict) or not mask:
        raise ValueError(f"`mask` must be {expected}, got {mask!r}.")
    mask = {("irregular" if k == "external" else k): v for k, v in mask.items()}
    unknown = sorted(set(mask) - set(SOURCES))
    if unknown:
        raise ValueError(
            f"Unknown mask source(s) {unknown}; expected some of {SOURCES} or a preset "
            f"{sorted(PRESETS)}."
        )
    total = float(sum(mask.values()))
    if any(p < 0 for p in mask.values()) or not total > 0:
        raise ValueError(f"Mask probabilities must be >= 0 with a positive sum, got {mask}.")
    if "paired" in mask and len(mask) > 1:
        raise ValueError("The 'paired' mask source (MASK 6) cannot be mixed with others.")
    return {name: p / total for name, p in mask.items() if p > 0}


def mask_sampler(mask=3, mask_files=None, *, augment=True):
    """A mask function `fn(seed, height, width, index=None) -> [height, width, 1]`.

    Args:
        mask: one of
            - a reference MASK code 1-6 (see `REFERENCE_MASKS`);
            - a source name: "block", "half", "irregular" (alias "external"; a
              random file of `mask_files`), "free_form", "paired" (file number
              `index`: the reference's test mode, no augmentation, no crop);
            - a preset: "block_irregular", "block_half", "mixed" (block, half,
              free-form and files with equal odds; without files the three
              generated kinds);
            - a dict `{source: probability}`;
            - a `(low, high)` hole-ratio bucket (free-form, see `bucket_mask`).
        mask_files: list of mask image paths (white = hole), for "irregular"
            and "paired".
        augment: random flips and 90-degree rotations of "irregular" masks.

    Returns:
        The function; `index` (the image's position in its list) is used by
        "paired" only.

    Raises:
        ValueError: an unknown spec, or file sources without `mask_files`.
    """
    spec = _normalize_spec(mask, bool(mask_files))
    if isinstance(spec, tuple):
        low, high = spec
        return lambda seed, height, width, index=None: bucket_mask(seed, height, width, low, high)
    needs_files = {"irregular", "paired"} & set(spec)
    if needs_files and not mask_files:
        raise ValueError(f"Mask source {sorted(needs_files)} (mask={mask!r}) needs mask files.")
    files = tf.constant([str(f) for f in mask_files]) if mask_files else None

    def fn(seed, height, width, index=None):
        if "paired" in spec:
            if index is None:
                raise ValueError("The 'paired' mask source needs the image's `index`.")
            return file_mask(files[index], height, width)
        makers = {
            "block": lambda s: block_mask(s, height, width),
            "half": lambda s: half_mask(s, height, width),
            "free_form": lambda s: free_form_mask(s, height, width),
            "irregular": lambda s: random_file_mask(s, files, height, width, augment=augment),
        }
        names = list(spec)
        return mixture_mask(seed, [makers[n] for n in names], [spec[n] for n in names])

    return fn
