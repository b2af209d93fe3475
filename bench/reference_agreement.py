"""How many channel values `inpaint` shares with the authors' float32 test() (issue 21).

    python -m bench.reference_agreement              # full size, 256² and 512×600
    ONEDNN_MAX_CPU_ISA=AVX2 python -m bench.reference_agreement

Full-size G1 and G2 (8 blocks, 64 filters) of tests/torch_reference.py, random
weights with perturbed biases and u/v after two power iterations (not converged,
as in any checkpoint), converted through the checkpoint files; skimage photos
with a free-form hole. For each photo and size, the share of channel values
(whole image and hole only) that equal the reference's and the largest
difference in levels, for:
- `--reference` (the authors' test(), truncated) with direct convolutions and
  with the Winograd graph blocks (the command line's default conv mode);
- the default path (G2 fed the composite G1·m + Canny·(1 − m), rounded) against
  the same computation in PyTorch float32.
"""

import copy
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests"))

PHOTOS = ("astronaut", "coffee", "chelsea")
SIZES = ((256, 256), (512, 600))


def photo_and_hole(name, height, width):
    """uint8 [H, W, 3] skimage photo resized, bool [H, W] hole (a disc and a strip, ~15 %)."""
    from skimage import data, transform

    image = transform.resize(getattr(data, name)(), (height, width))
    image = np.round(image * 255).astype(np.uint8)
    rows, cols = np.mgrid[:height, :width]
    hole = (rows - 0.4 * height) ** 2 + (cols - 0.55 * width) ** 2 < (0.22 * height) ** 2
    hole[height // 2 :, width // 10 : width // 10 + width // 16] = True
    return image, hole


def torch_composite(g1, g2, image, hole, sigma=2.0):
    """The default path in PyTorch float32: G2 on the composite edges, rounded to uint8."""
    import torch
    from skimage.color import rgb2gray
    from skimage.feature import canny

    gray = rgb2gray(image).astype(np.float32)
    edges = canny(gray, sigma=sigma, low_threshold=0.1, high_threshold=0.2, mask=~hole)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float32)))  # noqa: E731
    rgb = t(image / 255.0).permute(2, 0, 1)[None]
    g, e, m = (t(a)[None, None] for a in (gray, edges, hole))
    with torch.no_grad():
        g1_out = g1(torch.cat([g * (1 - m) + m, e * (1 - m), m], dim=1))
        composite = g1_out * m + e * (1 - m)
        out = g2(torch.cat([rgb * (1 - m) + m, composite], dim=1)) * m + rgb * (1 - m)
    out = out[0].permute(1, 2, 0).numpy()
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


def agreement(ours, theirs, hole):
    diff = np.abs(ours.astype(int) - theirs.astype(int))
    return {
        "identical": float(np.mean(diff == 0)),
        "identical_hole": float(np.mean(diff[hole] == 0)),
        "max_levels": int(diff.max()),
    }


def main():
    import torch_reference as tr
    from test_convert import make_reference, save_checkpoints

    from edgeconnect_tf import convert
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.inpaint import inpaint

    names = ("edge_generator", "inpaint_generator")
    nets = make_reference(8, 64, seed=5)
    root = tempfile.mkdtemp()
    save_checkpoints(nets, os.path.join(root, "ckpt"), names=names)
    convert.convert_checkpoints(os.path.join(root, "ckpt"), os.path.join(root, "weights"))
    modes = ("direct", "graph")
    models = {k: EdgeConnect.from_pretrained(os.path.join(root, "weights"), conv_mode=k)
              for k in modes}  # fmt: skip
    g1, g2 = (copy.deepcopy(nets[k]).eval() for k in names)
    print(f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(native)')}")
    print("| photo | size | path | conv | identical | identical (hole) | max levels |")
    print("|---|---|---|---|---:|---:|---:|")
    for height, width in SIZES:
        for photo in PHOTOS:
            image, hole = photo_and_hole(photo, height, width)
            rows = []
            theirs = tr.reference_test(g1, g2, image, hole)
            for mode, model in models.items():
                ours, _ = inpaint(model, image, hole, reference=True)
                rows.append(("--reference", mode, agreement(ours, theirs, hole)))
            theirs = torch_composite(g1, g2, image, hole)
            for mode, model in models.items():
                ours, _ = inpaint(model, image, hole, tiling="full")
                rows.append(("default", mode, agreement(ours, theirs, hole)))
            for path, mode, a in rows:
                print(f"| {photo} | {height}×{width} | {path} | {mode} | {a['identical']:.3%} "
                      f"| {a['identical_hole']:.3%} | {a['max_levels']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
