"""A folder of the user's exported `.tflite` files, listed and served for the page.

`GET /api/models` -> `{"models": [{"name": ..., "url": "/models/NAME", "bytes": N}]}`
(sorted by name; empty without a folder) and `GET /models/NAME` -> the file. Only
plain `*.tflite` files directly in the folder are listed or served: no subfolders, no
hidden files, no link that leaves the folder; any other name answers 404. Files are
sent as `application/octet-stream` with an ETag and `Cache-Control: no-cache`, so a
browser keeps each file and asks again only to learn whether it changed (304).
"""

import os

SUFFIX = ".tflite"
CONTENT_TYPE = "application/octet-stream"
CACHE_CONTROL = "no-cache"


class ModelFolderError(ValueError):
    """The folder given for `--models` cannot be served."""


def check_folder(directory):
    """`directory` as an absolute real path; ModelFolderError if it is not a folder."""
    if not os.path.exists(directory):
        raise ModelFolderError(f"--models {directory}: no such folder")
    if not os.path.isdir(directory):
        raise ModelFolderError(f"--models {directory}: not a folder")
    return os.path.realpath(directory)


def model_path(directory, name):
    """The path of model `name` in `directory`, or None when it is not one it serves."""
    if (
        not name.endswith(SUFFIX)
        or name.startswith(".")
        or name != os.path.basename(name)
        or "\\" in name
        or "\x00" in name
    ):
        return None
    path = os.path.join(directory, name)
    real = os.path.realpath(path)
    if os.path.dirname(real) != directory or not os.path.isfile(real):
        return None  # a link out of the folder (or into a subfolder), a folder, missing
    return real


def list_models(directory):
    """[{"name", "url", "bytes"}] of the models in `directory` (None: []), by name."""
    try:
        names = [] if directory is None else sorted(os.listdir(directory))
    except OSError:  # the folder went away while serving
        names = []
    models = []
    for name in names:
        path = model_path(directory, name)
        if path is not None:
            models.append({"name": name, "url": f"/models/{name}", "bytes": os.path.getsize(path)})
    return models


def add_model_file_routes(app, directory=None):
    """`GET /api/models` and `GET /models/NAME` on the FastAPI `app` (module docstring).

    `directory`: a folder checked by `check_folder`, or None (an empty list).
    """
    from fastapi import Request
    from fastapi.responses import FileResponse, JSONResponse, Response

    if directory is not None:
        directory = check_folder(directory)

    @app.get("/api/models")
    def models():
        return {"models": list_models(directory)}

    @app.api_route("/models/{name}", methods=["GET", "HEAD"])
    def model_file(name: str, request: Request):
        path = None if directory is None else model_path(directory, name)
        try:
            stat = None if path is None else os.stat(path)
        except OSError:  # removed since
            stat = None
        if stat is None:
            return JSONResponse({"error": f"no model {name!r} is served here"}, status_code=404)
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return FileResponse(path, media_type=CONTENT_TYPE, headers=headers, stat_result=stat)
