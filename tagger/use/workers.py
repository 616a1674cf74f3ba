"""Tagging on several processes at once, each on one thread: how a large input uses the cores.

Why processes and not threads: torch's and ONNX Runtime's threads split every operation
of the network among them and wait, spinning, for the slowest at its end. When another
program takes a core, each of those many small waits becomes a wait for a thread the
system is not running, and the whole run slows many times over. A process of its own per
core, each tagging whole batches on one thread, never waits for another: a busy core only
gives it fewer turns. The workers are forked from the process that loaded the model, so
they start in milliseconds and share its weights' memory. They live as long as the pool: one
forked later, from the pool's own thread, inherits the locks the main thread holds at that
moment (stdin's, while it waits for input) and can wait on one forever. Ctrl-C and the end of
the process that forked them are that process's to handle: a worker ignores the one and dies
with the other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # multiprocessing is imported once workers start: predict on a sentence never needs it
    from multiprocessing.pool import AsyncResult

    from tagger.use.predict import Tagged, Tagger

_tagger: Tagger | None = None  # the workers' own, inherited from the process that forked them
PR_SET_PDEATHSIG = 1  # from Linux's prctl.h


def available() -> bool:
    """Whether workers can be forked here (Linux); elsewhere tagging stays in one process."""
    return hasattr(os, "fork") and os.uname().sysname == "Linux"


class Workers:
    """`processes` forked copies of this process, each tagging the batches it is given with
    `tagger` on one thread, results coming back in the order asked."""

    def __init__(self, tagger: Tagger, processes: int):
        import multiprocessing

        global _tagger
        _tagger = tagger
        self.processes = processes
        self.pool = multiprocessing.get_context("fork").Pool(processes, initializer=_start_worker)

    def tag(self, sentences: Sequence[Sequence[str]], with_probabilities: bool) -> AsyncResult:
        """Tag `sentences` on a free worker; `.get()` gives Tagger.tag's list."""
        return self.pool.apply_async(_tag, (sentences, with_probabilities))

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


def _start_worker() -> None:
    import ctypes
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process ends the workers on Ctrl-C
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # and if it is killed, they die quietly
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _tag(sentences: Sequence[Sequence[str]], with_probabilities: bool) -> list[Tagged]:
    return _tagger.tag(sentences, with_probabilities)
