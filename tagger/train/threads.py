"""How many threads training runs torch on, chosen as it goes: every core this process may use
while no other program uses them, fewer while others do.

torch's threads split each operation and then wait, spinning, for one another. On a core that
another program holds, that wait lasts until the system runs the thread again, and a training
step is many small operations: with one of two cores busy, two threads train several times
slower than one (tests/benchmarks/README.md has the figures). So once a second the share of
this process's cores that other programs used is read from the system's counters (Linux's
/proc/stat), and the threads follow it. Elsewhere, and when asked for a number, the threads
are that number (one by default).
"""

from __future__ import annotations

import math
import os
import time

import torch

INTERVAL_SECONDS = 1.0
TOLERANCE = 0.25  # cores' worth of other programs' work that is background noise, not a busy core


class AdaptiveThreads:
    """Call once a training step: sets torch's threads to the cores that other programs leave free."""

    def __init__(self):
        self.cores = sorted(os.sched_getaffinity(0))
        self.last = self._counters()
        torch.set_num_threads(len(self.cores))

    @classmethod
    def possible(cls) -> bool:
        """Whether the system's counters can be read here (Linux, more than one core)."""
        return hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1 and os.path.exists("/proc/stat")

    def __call__(self) -> None:
        now = self._counters()
        wall = now[0] - self.last[0]
        if wall < INTERVAL_SECONDS:
            return
        # Busy time on this process's cores, less this process's own: what other programs used.
        others = ((now[1] - self.last[1]) - (now[2] - self.last[2])) / wall
        self.last = now
        threads = max(1, len(self.cores) - max(0, math.ceil(others - TOLERANCE)))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def _counters(self) -> tuple[float, float, float]:
        """(now, seconds the process's cores have been busy, seconds of this process's own CPU time)."""
        busy = 0
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in self.cores:
                    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
                    busy += user + nice + system + irq + softirq + steal
        own = os.times()
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system
