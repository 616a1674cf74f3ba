"""Training and predict on a quiet machine and with one core busy, for each way of using the cores.

    python tests/benchmarks/threads.py --model models/conll2003 --baseline ../older-checkout \
        --baseline-model ../older-checkout/models/conll2003

Training: tokens/s over `--steps` steps of `tagger train` (after 20 steps of warm-up), with
torch on 1 thread, 2 threads, and tagger's default (the cores no other program uses).
Predict: wall seconds of `tagger predict --format jsonl` on the test text `--repeat` times
over, start-up included, on one process (`--threads 1`) and with tagger's default (a worker
process a core). "Busy" runs another process spinning on one core (`python -c "while True:
pass"`) throughout. With `--baseline`, the same default commands run from that checkout too,
side by side (with its own model, `--baseline-model`, where the model formats differ). Each figure is the median of `--runs` runs, quiet and busy in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from speed import one_core_busy, run_process

TRAIN_STEPS = """
import json, sys, time
from pathlib import Path
from tagger.core.config import Runtime, TrainConfig
from tagger.train.run import train
threads = None if sys.argv[3] == "default" else int(sys.argv[3])
runtime = Runtime(device="cpu") if threads is None else Runtime(device="cpu", threads=threads)
steps, tokens, started = 0, 0, None
for record in train(TrainConfig(), sys.argv[1], Path(sys.argv[2]), runtime):
    if type(record).__name__ == "Step":  # by name: an older checkout defines it in another module
        steps += 1
        if steps == 20:
            started = time.perf_counter()
        elif steps > 20:
            tokens += record.tokens
        if steps == 20 + int(sys.argv[4]):
            break
print(json.dumps(tokens / (time.perf_counter() - started)))
"""


def train_tokens_per_second(checkout: Path, data: Path, threads: str, steps: int, work: Path) -> float:
    with tempfile.TemporaryDirectory(dir=work) as model_dir:
        _, _, output = run_process([sys.executable, "-P", "-c", TRAIN_STEPS, str(data), str(Path(model_dir) / "m"),
                                    threads, str(steps)], env=_environment(checkout))
    return json.loads(output)


def predict_seconds(checkout: Path, model: Path, text: Path, threads: str) -> float:
    options = [] if threads == "default" else ["--threads", threads]
    return run_process([sys.executable, "-P", "-m", "tagger", "predict", "--model", str(model), "--format", "jsonl",
                        "--input", str(text), *options], env=_environment(checkout))[0]


def _environment(checkout: Path) -> dict:
    """Run the tagger of `checkout` (its package first on the path: the commands run with -P, so
    the current directory's does not come before it), with nothing fixing threads."""
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    return {**environment, "PYTHONPATH": str(checkout)}


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/conll2003"))
    parser.add_argument("--data", type=Path, default=Path("data/conll2003"))
    parser.add_argument("--baseline", type=Path, help="an older checkout to measure beside this one")
    parser.add_argument("--baseline-model", type=Path, help="the model the older checkout predicts with")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=4, help="times the test text is repeated for predict")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args(argv)
    here = Path(__file__).resolve().parents[2]
    from tagger.data.corpus import read_conll

    test = list(read_conll(arguments.data / "test.txt")["tokens"])
    rows = []
    with tempfile.TemporaryDirectory() as work:
        text = Path(work) / "text.txt"
        text.write_text("".join(" ".join(sentence) + "\n" for sentence in test) * arguments.repeat, encoding="utf-8")
        variants = [("train", here, threads) for threads in ("1", "2", "default")]
        variants += [("predict", here, threads) for threads in ("1", "default")]
        if arguments.baseline:
            variants += [("train", arguments.baseline, "default"), ("predict", arguments.baseline, "default")]
        for command, checkout, threads in variants:
            figures = {}
            for busy in (False, True):
                with one_core_busy(busy):
                    if command == "train":
                        runs = [train_tokens_per_second(checkout, arguments.data.resolve(), threads, arguments.steps,
                                                        Path(work)) for _ in range(arguments.runs)]
                    else:
                        model = arguments.model if checkout == here else arguments.baseline_model or arguments.model
                        runs = [predict_seconds(checkout, model.resolve(), text, threads)
                                for _ in range(arguments.runs + 1)][1:]
                figures["busy" if busy else "quiet"] = statistics.median(runs)
            row = {"command": command, "checkout": "this" if checkout == here else str(checkout), "threads": threads,
                   "unit": "tokens/s" if command == "train" else "s", **figures}
            kept = figures["busy"] / figures["quiet"] if command == "train" else figures["quiet"] / figures["busy"]
            print(f"{command:8} {row['checkout']:10} threads {threads:8} quiet {figures['quiet']:10,.1f}  "
                  f"one core busy {figures['busy']:10,.1f} {row['unit']:9} (speed kept: {kept:.2f}x)", flush=True)
            rows.append({**row, "speed_kept": kept})
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
