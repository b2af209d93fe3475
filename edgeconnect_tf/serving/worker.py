"""The one inference thread and its bounded queue (`Worker`)."""

import concurrent.futures
import queue
import threading


class Worker:
    """The one inference thread, with `queue_size` waiting places (one more runs).

    `admit()` takes a place or answers False at once; a submitted job gives its
    place back when it ends, so runs that outlive their request still count.
    `stopping` is set by `stop()` (or by whoever stops the server first): runs check
    it at each network call (`Predictor`), waiting requests answer 503.
    """

    def __init__(self, queue_size):
        self.queue_size = queue_size
        self._places = threading.Semaphore(queue_size + 1)
        self._admitted = 0
        self._count_lock = threading.Lock()
        self._jobs = queue.SimpleQueue()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edgeconnect-inference")
        self._thread.daemon = True  # an interpreter exit never waits for it
        self._thread.start()

    @property
    def admitted(self):
        """Places taken now: requests admitted and not yet given back (running included)."""
        return self._admitted

    @property
    def alive(self):
        """Whether the inference thread runs (False once `stop` has ended it)."""
        return self._thread.is_alive()

    def admit(self):
        if not self._places.acquire(blocking=False):
            return False
        self._count(+1)
        return True

    def release(self):
        """Gives back a place taken by `admit` for a request that was never submitted."""
        self._count(-1)
        self._places.release()

    def _count(self, change):
        with self._count_lock:
            self._admitted += change

    def submit(self, fn):
        """Runs fn() on the inference thread; a `concurrent.futures.Future` of its result."""
        future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def _loop(self):
        while True:
            fn, future = self._jobs.get()
            if fn is None:
                return
            running, result, error = False, None, None
            try:
                running = future.set_running_or_notify_cancel()  # False: cancelled while queued
                if running:
                    result = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the request
                error = e
            finally:
                self.release()  # before the answer: an answered request holds no place
            if running and error is not None:
                future.set_exception(error)
            elif running:
                future.set_result(result)

    def stop(self, timeout=None):
        """Asks runs to stop at their next network call and ends the thread once the
        network call in progress (if any) returns; True if it ended within `timeout`
        seconds (None: waits). Calling it again is harmless."""
        self.stopping.set()
        self._jobs.put((None, None))
        self._thread.join(timeout)
        return not self._thread.is_alive()
