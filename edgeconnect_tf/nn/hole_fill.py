"""What G2 sees in the hole: `hole_fill` (`InpaintGenerator`, the training config).

- "white": the hole painted white, as the authors' (their published weights).
- "pyramid": the known colours pushed into the hole (`data.image_ops.pyramid_fill`);
  G2 adds a correction and learns colour in short runs.

Saved in the generator's config. Imports nothing heavy, so the config can check it.
"""

HOLE_FILLS = ("white", "pyramid")


def check_hole_fill(value, name="hole_fill"):
    """`value` if it is one of `HOLE_FILLS`, else a ValueError naming `name` and the choices."""
    if value not in HOLE_FILLS:
        raise ValueError(f"{name} must be one of {', '.join(HOLE_FILLS)}; got {value!r}")
    return value
