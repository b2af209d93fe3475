#!/usr/bin/env python3
"""Fill the holes of a photo on a device with an EdgeConnect `.tflite` file.

Needs only numpy, OpenCV and ai-edge-litert (no TensorFlow):

    pip install numpy opencv-python-headless ai-edge-litert
    python tflite_inpaint.py --model edgeconnect_256x256_float16.tflite \
        --image photo.png --mask mask.png --output filled.png

The mask is an image of the photo's size, white (gray > 127) = hole. The model
has a fixed input size (in its file name); a photo of another size is resized
to it, filled, resized back, and only its hole pixels are replaced, so the
known pixels stay exactly as they were.
"""

import argparse
import sys

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

SIGNATURE = "inpaint"


def load_runner(model_path, threads=2):
    """The model's `inpaint` signature runner and its input size (H, W)."""
    interpreter = Interpreter(model_path=model_path, num_threads=threads)
    runner = interpreter.get_signature_runner(SIGNATURE)
    _, height, width, _ = runner.get_input_details()["image"]["shape"]
    return runner, (int(height), int(width))


def inpaint(runner, size, image, hole):
    """image [H, W, 3] uint8 RGB, hole [H, W] bool -> (filled uint8 RGB, edges [H, W] float).

    The model runs at `size` (its input size); the result is resized back
    and composited so that pixels outside the hole are unchanged.
    """
    height, width = image.shape[:2]
    model_h, model_w = size
    x = image.astype(np.float32) / 255.0
    m = hole.astype(np.float32)
    if (height, width) != (model_h, model_w):
        x = cv2.resize(x, (model_w, model_h), interpolation=cv2.INTER_AREA)
        m = cv2.resize(m, (model_w, model_h), interpolation=cv2.INTER_NEAREST)
    out = runner(image=x[None].astype(np.float32), mask=m[None, :, :, None].astype(np.float32))
    filled, edges = out["inpainted"][0], out["edges"][0, :, :, 0]
    if (height, width) != (model_h, model_w):
        filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)
        edges = cv2.resize(edges, (width, height), interpolation=cv2.INTER_LINEAR)
    filled = np.round(np.clip(filled, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.where(hole[..., None], filled, image), edges


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="EdgeConnect .tflite file")
    parser.add_argument("--image", required=True, help="photo (PNG, JPEG, ...)")
    parser.add_argument("--mask", required=True, help="hole mask, white = hole, photo's size")
    parser.add_argument("--output", required=True, help="filled photo to write (PNG)")
    parser.add_argument("--edges", help="also write the edge map the model used (PNG)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    args = parser.parse_args(argv)

    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if bgr is None:
        parser.error(f"--image {args.image}: not a readable image")
    gray = cv2.imread(args.mask, cv2.IMREAD_GRAYSCALE)
    if gray is None:
        parser.error(f"--mask {args.mask}: not a readable image")
    if gray.shape != bgr.shape[:2]:
        parser.error(f"--mask is {gray.shape[::-1]} pixels, the image {bgr.shape[1::-1]} (W, H)")
    runner, size = load_runner(args.model, args.threads)
    filled, edges = inpaint(runner, size, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), gray > 127)
    if not cv2.imwrite(args.output, cv2.cvtColor(filled, cv2.COLOR_RGB2BGR)):
        parser.error(f"--output {args.output}: could not write")
    if args.edges:
        cv2.imwrite(args.edges, np.round(np.clip(edges, 0, 1) * 255).astype(np.uint8))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
