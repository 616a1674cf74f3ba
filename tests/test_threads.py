"""Training's threads follow the cores other programs leave free: all of them on a quiet
machine, one fewer while a program keeps a core busy."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from tagger.threads import AdaptiveThreads


@pytest.mark.skipif(not AdaptiveThreads.possible(), reason="needs Linux's /proc/stat and two cores or more")
def test_threads_give_way_to_a_program_that_keeps_a_core_busy_and_come_back_after():
    threads = torch.get_num_threads()
    adapt = AdaptiveThreads()
    try:
        assert torch.get_num_threads() == len(adapt.cores)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(1.5)
            adapt()
            assert torch.get_num_threads() == len(adapt.cores) - 1
        finally:
            busy.kill()
            busy.wait()
        time.sleep(1.5)
        adapt()
        assert torch.get_num_threads() == len(adapt.cores)
    finally:
        torch.set_num_threads(threads)
