"""`edgeconnect serve`'s server: the browser editor plus TF Serving's REST contract.

One local process serves the editor page and `POST /v1/models/edgeconnect:predict`
with TF Serving's REST contract, so the page works unchanged against a real TF Serving.
Needs the `[app]` extra: `pip install "edgeconnect-tf[app]"`. One idea per module:

- `limits`: what one request may cost (`Limits`) and the errors that refuse it.
- `codec`: TF Serving's REST bodies <-> tensors (`parse_request`, `format_response`).
- `predictor`: a checked body -> a run of the model's signatures (`Predictor`).
- `worker`: the one inference thread and its bounded queue (`Worker`).
- `model_files`: a folder of the user's exported `.tflite` files, listed and served.
- `app`: the FastAPI routes (`create_app`, `create_static_app`).
- `server`: uvicorn until SIGINT/SIGTERM, stopping runs first (`run_until_signalled`).

No request can cost other users their work (README, "The editor"): image files are
sized from their headers before decoding (413 above `--max-pixels` per request), the
networks never see more than `inpaint.MAX_SIDE` px a side, one inference runs at a
time with `--queue-size` waiting places (503 + Retry-After beyond), every request is
answered within `--timeout` (503 not started, 504 running), and SIGINT/SIGTERM make a
running inference answer 503 at its next network call before the process ends.
"""
