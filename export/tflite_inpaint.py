#!/usr/bin/env python3
"""Fill the holes of a photo of any size with an EdgeConnect `.tflite` file.

Needs numpy, OpenCV, ai-edge-litert and this package's numpy-only modules
(TensorFlow is never imported):

    pip install numpy opencv-python-headless ai-edge-litert
    python tflite_inpaint.py --model edgeconnect_128x128_float32.tflite \
        --image photo.png --mask mask.png --output filled.png

The mask is an image of the photo's size, white (gray > 127) = hole. The model
runs only at its file's size S×S, over windows around the holes
(`edgeconnect_tf.deploy.tflite_runner`: the package's crop rule with
window = max_side = S), so the memory stays that of one S×S call however large
the photo; only hole pixels are replaced.
"""

import argparse
import os
import sys

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(REPO, "edgeconnect_tf")):  # run from a checkout: its package
    sys.path.insert(0, REPO)

from edgeconnect_tf.deploy.tflite_runner import TFLiteModel  # noqa: E402
from edgeconnect_tf.inpaint import InpaintError  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="EdgeConnect .tflite file")
    parser.add_argument("--image", required=True, help="photo (PNG, JPEG, ...)")
    parser.add_argument("--mask", required=True, help="hole mask, white = hole, photo's size")
    parser.add_argument("--output", required=True, help="filled photo to write (PNG)")
    parser.add_argument("--edges", help="also write the edge map the model used (PNG)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument(
        "--no-weight-cache",
        action="store_true",
        help="don't write/map XNNPACK's packed-weight cache (~/.cache/edgeconnect_tf/xnnpack); "
        "the packed weights then stay in memory (82 MiB more for a float32 file)",
    )
    args = parser.parse_args(argv)

    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if bgr is None:
        parser.error(f"--image {args.image}: not a readable image")
    gray = cv2.imread(args.mask, cv2.IMREAD_GRAYSCALE)
    if gray is None:
        parser.error(f"--mask {args.mask}: not a readable image")
    if gray.shape != bgr.shape[:2]:
        parser.error(f"--mask is {gray.shape[::-1]} pixels, the image {bgr.shape[1::-1]} (W, H)")
    try:
        model = TFLiteModel(args.model, args.threads, weight_cache=not args.no_weight_cache)
        filled, edges = model.inpaint(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), gray > 127)
    except InpaintError as e:
        parser.error(str(e))
    if not cv2.imwrite(args.output, cv2.cvtColor(filled, cv2.COLOR_RGB2BGR)):
        parser.error(f"--output {args.output}: could not write")
    if args.edges:
        cv2.imwrite(args.edges, np.round(np.clip(edges, 0, 1) * 255).astype(np.uint8))
    print(f"wrote {args.output} ({model.calls} model run(s) at {model.size[1]}×{model.size[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
