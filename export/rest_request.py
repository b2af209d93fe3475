#!/usr/bin/env python3
"""Inpaint a photo through TF Serving's REST API (Python standard library only).

    python rest_request.py --image photo.png --mask mask.png --output filled.png
    python rest_request.py --image photo.png --mask mask.png --dry-run > body.json

Sends the `inpaint_bytes` signature a row-format body
    {"signature_name": "inpaint_bytes",
     "instances": [{"image_bytes": {"b64": ...}, "mask_bytes": {"b64": ...}}]}
and writes the PNG from the response's `inpainted_png_bytes` (base64, since
the output name ends in `_bytes`). The mask is white (> 127) where to fill.
"""

import argparse
import base64
import json
import sys
import urllib.request

DEFAULT_URL = "http://localhost:8501/v1/models/edgeconnect:predict"


def request_body(image_path, mask_path):
    """The JSON body for one image/mask pair (PNG or JPEG files)."""

    def b64(path):
        with open(path, "rb") as f:
            return {"b64": base64.b64encode(f.read()).decode("ascii")}

    instance = {"image_bytes": b64(image_path), "mask_bytes": b64(mask_path)}
    return json.dumps({"signature_name": "inpaint_bytes", "instances": [instance]})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--mask", required=True)
    parser.add_argument("--output", help="PNG to write")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--dry-run", action="store_true", help="print the body, send nothing")
    args = parser.parse_args(argv)

    body = request_body(args.image, args.mask)
    if args.dry_run:
        print(body)
        return 0
    if not args.output:
        parser.error("--output is required unless --dry-run")
    request = urllib.request.Request(
        args.url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        reply = json.load(response)
    png = base64.b64decode(reply["predictions"][0]["inpainted_png_bytes"]["b64"])
    with open(args.output, "wb") as f:
        f.write(png)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
