"""Progress of a loop over files, naming the file being worked on.

    for job in Progress(len(todo), stream=sys.stdout).iterate(todo, name=str):
        ...

On a terminal: one line redrawn in place (`\\r`), `3/10 [======>      ] 0.4 s/image
cat.png`, before each file starts. Anywhere else (a log file, a pipe, CI): one plain
line per finished file, `3/10 cat.png 0.41 s`, and no carriage returns, ANSI
colours or backspaces. Standard library only.
"""

import os
import sys
import time

BAR_WIDTH = 20


class Progress:
    """Counts `total` items of `unit` on `stream` (default sys.stdout, read when used)."""

    def __init__(self, total, unit="image", stream=None):
        self.total, self.unit, self.stream = total, unit, stream
        self._width = 0

    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def interactive(self):
        """Whether the stream is a terminal (and TERM is not "dumb")."""
        stream = self._out()
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"

    def iterate(self, items, name=str):
        """Yields `items`, reporting each as `name(item)` (terminal: before; else: after)."""
        start, live = time.perf_counter(), self.interactive()
        for k, item in enumerate(items):
            began = time.perf_counter()
            if live:
                rate = (began - start) / k if k else None
                self._redraw(k, name(item), rate)
            yield item
            if not live:
                seconds = time.perf_counter() - began
                print(f"{k + 1}/{self.total} {name(item)} {seconds:.2f} s", file=self._out())
        if live and self.total:
            self._redraw(self.total, "", (time.perf_counter() - start) / self.total)
            print(file=self._out())

    def _redraw(self, done, current, rate):
        filled = BAR_WIDTH * done // max(self.total, 1)
        bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
        speed = f" {rate:.2f} s/{self.unit}" if rate is not None else ""
        line = f"{done}/{self.total} [{bar[:BAR_WIDTH]}]{speed} {current}".rstrip()
        stream = self._out()
        stream.write("\r" + line.ljust(self._width))
        stream.flush()
        self._width = len(line)
