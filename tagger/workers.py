"""Tagging on several processes at once, each on one thread: how a large input uses the cores.

Why processes and not threads: torch's and ONNX Runtime's threads split every operation
of the network among them and wait, spinning, for the slowest at its end. When another
program takes a core, each of those many small waits becomes a wait for a thread the
system is not running, and the whole run slows many times over. A process of its own per
core, each tagging whole batches on one thread, never waits for another: a busy core only
gives it fewer turns. The workers are forked from the process that loaded the model, so
they start in milliseconds and share its weights' memory.

Every few batches the pool is replaced by a fresh one, so that a worker can keep the
network's buffers in its heap (tagger.memory) without that heap creeping up with the length
of the input: mapping them afresh for every batch costs the torch network much of its time.
The fresh pool is forked by the thread that asks for tagging, between reads: a process
forked by the pool's own thread (multiprocessing's maxtasksperchild) inherits whatever lock
the main thread holds at that moment, stdin's while it waits for input, and can wait on it
forever. A pool that is replaced is ended once the last of its results is in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # multiprocessing is imported once workers start: predict on a sentence never needs it
    from multiprocessing.pool import AsyncResult, Pool

    from tagger.predict import Tagged, Tagger

_tagger: Tagger | None = None  # the workers' own, inherited from the process that forked them
BATCHES_PER_WORKER = 8  # before its pool is replaced


def available() -> bool:
    """Whether workers can be forked here (Linux); elsewhere tagging stays in one process."""
    return hasattr(os, "fork") and os.uname().sysname == "Linux"


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Workers:
    """`processes` forked copies of this process, each tagging the batches it is given with
    `tagger` on one thread, results coming back in the order asked. Call it from one thread,
    one that holds no lock its workers need (not while it reads stdin)."""

    def __init__(self, tagger: Tagger, processes: int):
        global _tagger
        _tagger = tagger
        self.processes = processes
        self.pool = _pool(processes)
        self.results: list[AsyncResult] = []  # the current pool's
        self.replaced: list[tuple[Pool, list[AsyncResult]]] = []  # pools still finishing batches

    def tag(self, sentences: Sequence[Sequence[str]], with_probabilities: bool) -> AsyncResult:
        """Tag `sentences` on a free worker; `.get()` gives Tagger.tag's list."""
        if len(self.results) == self.processes * BATCHES_PER_WORKER:
            self.replaced.append((self.pool, self.results))
            self.pool, self.results = _pool(self.processes), []
        self._end_finished_pools()
        result = self.pool.apply_async(_tag, (sentences, with_probabilities))
        self.results.append(result)
        return result

    def _end_finished_pools(self) -> None:
        while self.replaced and all(result.ready() for result in self.replaced[0][1]):
            _end(self.replaced.pop(0)[0])

    def close(self) -> None:
        for pool, _ in self.replaced:
            _end(pool)
        _end(self.pool)


def _pool(processes: int) -> Pool:
    import multiprocessing

    return multiprocessing.get_context("fork").Pool(processes, initializer=_start_worker)


def _end(pool: Pool) -> None:
    # terminate, not close: a worker that exits on its own flushes stdout and stderr, whose locks
    # another thread of this process (a progress bar's) may have held when it was forked.
    pool.terminate()
    pool.join()


def _start_worker() -> None:
    import sys

    from tagger.memory import SHORT_LIFE_THRESHOLD_BYTES, keep_heap_flat

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    keep_heap_flat(SHORT_LIFE_THRESHOLD_BYTES)


def _tag(sentences: Sequence[Sequence[str]], with_probabilities: bool) -> list[Tagged]:
    return _tagger.tag(sentences, with_probabilities)
