"""The progress line of the CLI's long runs (ingest, reembed): work done, the rate and an ETA,
on stderr."""

from __future__ import annotations

import time
from typing import TextIO


def clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressLine:
    """``progress(files_done, files_total, chunks_done)`` drawn as one line rewritten in place.

    The ETA counts only the files this run had to read: unchanged files reported at the start
    take no time and would make it far too hopeful. ``verb`` opens the line; with
    ``files=False`` the work counted is the chunks themselves (``progress(done, total, done)``).
    """

    def __init__(self, stream: TextIO, every: float = 0.2, *, verb: str = "ingesting", files: bool = True) -> None:
        self.stream = stream
        self.verb = verb
        self.files = files
        self.every = every
        self.started = time.monotonic()
        self.last_drawn = 0.0
        self.first_done: int | None = None
        self.width = 0

    def __call__(self, done: int, total: int, chunks: int) -> None:
        now = time.monotonic()
        if self.first_done is None:
            self.first_done = done if done < total else 0
        if done < total and now - self.last_drawn < self.every:
            return
        self.last_drawn = now
        self.draw(self.line(done, total, chunks, now - self.started))

    def line(self, done: int, total: int, chunks: int, elapsed: float) -> str:
        if self.files:
            text = f"{self.verb}: {done}/{total} files, {chunks} chunks"
        else:
            text = f"{self.verb}: {done}/{total} chunks"
        if elapsed > 0.5 and chunks:
            text += f", {chunks / elapsed:.0f} chunks/s"
        worked = done - (self.first_done or 0)
        if worked > 0 and done < total and elapsed > 1.0:
            text += f", ETA {clock(elapsed / worked * (total - done))}"
        return text + f" ({clock(elapsed)} elapsed)"

    def draw(self, text: str) -> None:
        pad = " " * max(0, self.width - len(text))
        self.width = len(text)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()

    def close(self) -> None:
        if self.width:
            self.stream.write("\n")
            self.stream.flush()
