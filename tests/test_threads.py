"""Training's threads follow the cores other programs leave free: all of them on a quiet
machine, one fewer while a program keeps a core busy. More threads than cores are refused."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

import tagger
from tagger.cli import app
from tagger.core.config import cores
from tagger.core.errors import TaggerError, plural
from tagger.train.threads import AdaptiveThreads


@pytest.mark.skipif(not AdaptiveThreads.possible(), reason="needs Linux's /proc/stat and two cores or more")
def test_threads_give_way_to_a_program_that_keeps_a_core_busy_and_come_back_after():
    threads = torch.get_num_threads()
    adapt = AdaptiveThreads()
    try:
        assert torch.get_num_threads() == len(adapt.cores)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            assert _threads_become(len(adapt.cores) - 1, adapt)
        finally:
            busy.kill()
            busy.wait()
        assert _threads_become(len(adapt.cores), adapt)
    finally:
        torch.set_num_threads(threads)


def _threads_become(count: int, adapt: AdaptiveThreads, seconds: float = 10.0) -> bool:
    """Whether torch's threads reach `count` within `seconds` of calls to `adapt` (a little
    more than a second each: other programs on a shared machine may hold a core a while)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1.1)
        adapt()
        if torch.get_num_threads() == count:
            return True
    return False


@pytest.mark.parametrize("command", ["train", "eval", "predict"])
def test_more_threads_than_cores_are_refused_before_any_work(small_model, tmp_path, command):
    model = tmp_path / "new" if command == "train" else small_model
    result = CliRunner().invoke(app, [command, "--model", str(model), "--threads", str(cores() + 1)], input="Hi.\n")
    assert result.exit_code == 2
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: threads (--threads) = {cores() + 1}: tagger may use "
                                    f"{plural(cores(), 'core')} here")
    assert f"give {cores()} or fewer" in result.stderr
    assert not (tmp_path / "new").exists()
    with pytest.raises(TaggerError, match="give .* or fewer"):
        tagger.load(small_model, threads=cores() + 1)
