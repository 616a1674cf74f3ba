"""Peak RSS of `tagger predict` on ever longer streams: memory must not grow with the input.

    python tests/benchmarks/stream_memory.py --model models/conll2003 --megabytes 1 50 1024

The stream is a text's sentences, tokens joined by spaces, one sentence per line (by default
the CoNLL-2003 test set), repeated to the size asked for. It is piped into predict as it is
made, so no file of that size is written; predict writes jsonl to /dev/null.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tagger.data.corpus import read_conll

MEGABYTE = 1 << 20


@dataclass(frozen=True)
class Run:
    megabytes: float
    seconds: float
    peak_rss_mb: float
    words: int


def text_block(sentences: Iterable[Sequence[str]]) -> bytes:
    """The sentences as raw text, one per line."""
    return "".join(" ".join(tokens) + "\n" for tokens in sentences).encode()


def measure(model: Path, block: bytes, megabytes: float, tokenized: bool = False,
            report_every: float = 0.0) -> Run:
    """Pipe `block`, repeated to `megabytes`, through `tagger predict --model model`.

    With `report_every` (MB), prints how far it got and predict's peak RSS so far."""
    started = time.perf_counter()
    predict = subprocess.Popen([sys.executable, "-m", "tagger", "predict", "--model", str(model),
                                "--format", "jsonl"] + ["--tokenized"] * tokenized,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    target, written, words, next_report = megabytes * MEGABYTE, 0, 0, report_every
    block_words = len(block.split())
    with predict.stdin:
        while written < target:
            predict.stdin.write(block)
            written += len(block)
            words += block_words
            if report_every and written >= next_report * MEGABYTE:
                print(f"  {written / MEGABYTE:,.0f} MB in {time.perf_counter() - started:,.0f} s, "
                      f"peak RSS so far {_peak_rss_so_far(predict.pid):,.0f} MB", flush=True)
                next_report += report_every
    _, status, usage = os.wait4(predict.pid, 0)  # wait4: this child's own peak RSS
    predict.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait
    if predict.returncode != 0:
        raise RuntimeError(f"tagger predict exited with {predict.returncode}")
    return Run(written / MEGABYTE, time.perf_counter() - started, usage.ru_maxrss / 1024, words)


def _peak_rss_so_far(pid: int) -> float:
    """The process's peak resident set in MB, as Linux's /proc tells it (NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/conll2003"))
    parser.add_argument("--text", type=Path, default=Path("data/conll2003/test.txt"),
                        help="CoNLL file whose sentences make the stream")
    parser.add_argument("--megabytes", type=float, nargs="+", default=[1, 50])
    parser.add_argument("--tokenized", action="store_true", help="pass --tokenized to predict "
                        "(lines already tokenised: no sentence splitter or word tokenizer)")
    parser.add_argument("--report-every", type=float, default=0.0, help="MB between progress lines")
    arguments = parser.parse_args()
    block = text_block(read_conll(arguments.text)["tokens"])
    runs = []
    for megabytes in arguments.megabytes:
        run = measure(arguments.model, block, megabytes, arguments.tokenized, arguments.report_every)
        runs.append(run)
        print(f"{run.megabytes:,.0f} MB: peak RSS {run.peak_rss_mb:,.0f} MB "
              f"({run.peak_rss_mb / runs[0].peak_rss_mb:.2f}x the first), {run.seconds:,.0f} s, "
              f"{run.words / run.seconds:,.0f} words/s", flush=True)


if __name__ == "__main__":
    main()
