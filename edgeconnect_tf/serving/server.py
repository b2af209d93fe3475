"""uvicorn until SIGINT/SIGTERM, through its documented API (`uvicorn.Server`).

The server runs in a thread, where uvicorn installs no signal handlers; the main
thread installs its own. On the first SIGINT or SIGTERM, `stopping` is set (a running
inference answers 503 at its next network call, waiting requests answer 503 at once),
then `server.should_exit`: uvicorn stops listening, lets the answers go out (at most
`grace_s` seconds) and runs the app's lifespan shutdown, which ends the inference
thread after the network call in progress, if any. Nothing is cut off mid-call, so
the process ends normally. A second signal during that wait acts as the default one
(Ctrl+C: KeyboardInterrupt; SIGTERM: the process ends at once).
"""

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ServerError(RuntimeError):
    """The server could not start (e.g. the port is taken)."""


def run_until_signalled(app, host, port, stopping=None, grace_s=2.0, started=None):
    """Serves the ASGI `app` on host:port until SIGINT/SIGTERM; returns once stopped.

    `stopping`: a `threading.Event` set first on a signal (`Worker.stopping`).
    `started`: called once the server listens. Must be called on the main thread.
    Raises ServerError if uvicorn could not start.
    """
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=grace_s
    )
    server = uvicorn.Server(config)
    signalled = threading.Event()

    def on_signal(sig, frame):
        for s in SIGNALS:  # a second signal: the default action
            signal.signal(s, signal.SIG_DFL if s == signal.SIGTERM else signal.default_int_handler)
        signalled.set()

    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    try:
        thread.start()
        announced = False
        while thread.is_alive() and not signalled.wait(0.1):
            if server.started and not announced:
                announced = True
                if started is not None:
                    started()
        if stopping is not None:
            stopping.set()
        server.should_exit = True
        thread.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not server.started and not signalled.is_set():
        raise ServerError(f"could not listen on {host}:{port} (see the message above)")
