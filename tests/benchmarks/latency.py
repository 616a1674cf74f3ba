"""How long `tagger predict` takes to answer a line on a live stream: a line is written to its
stdin, then nothing until its tags are back; the input stays open throughout.

    python tests/benchmarks/latency.py --model models/conll2003 --lines 20 --pause 0.5

Prints the median and the longest time from a line's write to its output, past start-up
(the first line is sent once the model has answered a warm-up line).
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SENTENCES = ["Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
             "The U.S. Federal Reserve didn't raise rates, Janet Yellen told Reuters in Washington.",
             "Lina Okoro visited Port Arlo with Ada Brandt ."]


def answer_seconds(process: subprocess.Popen, line: str, timeout: float) -> float:
    """Write `line`, wait for its one line of inline output; seconds from write to answer."""
    started = time.perf_counter()
    process.stdin.write(line.encode() + b"\n")
    process.stdin.flush()
    received = b""
    while not received.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, started + timeout - time.perf_counter()))
        if not ready:
            raise SystemExit(f"no answer within {timeout} s to: {line}")
        chunk = os.read(process.stdout.fileno(), 1 << 16)
        if not chunk:
            raise SystemExit("tagger predict ended early")
        received += chunk
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/conll2003"))
    parser.add_argument("--lines", type=int, default=20, help="lines sent, one at a time")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds of silence between an answer and the next line")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for any one answer")
    arguments = parser.parse_args(argv)
    process = subprocess.Popen([sys.executable, "-m", "tagger", "predict", "--model", str(arguments.model),
                                "--format", "inline"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        answer_seconds(process, SENTENCES[0], arguments.timeout)  # start-up and warm-up
        seconds = []
        for number in range(arguments.lines):
            time.sleep(arguments.pause)
            seconds.append(answer_seconds(process, SENTENCES[number % len(SENTENCES)], arguments.timeout))
        process.stdin.close()
        process.wait(timeout=arguments.timeout)
    finally:
        process.kill()
    print(f"{len(seconds)} lines: median {statistics.median(seconds) * 1000:.1f} ms, "
          f"longest {max(seconds) * 1000:.1f} ms from a line's write to its tags")
    return seconds


if __name__ == "__main__":
    main()
