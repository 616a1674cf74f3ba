"""Training throughput, and peak RSS per process, for one process or several and ever more data.

    python tests/benchmarks/distributed.py --data data/conll2003 --processes 1 2 --copies 1 4 16

The training data is `copies` copies of the train split, as that many CoNLL files in a
train/ folder, read through datasets' memory-mapped Arrow files; dev is the data's own.
Each run starts its processes as torchrun does (RANK, WORLD_SIZE, MASTER_ADDR/PORT; one
torch thread each when there are several, as torchrun sets), trains `--steps` steps with
`tagger train`'s defaults on the CPU, and every process reports its own peak RSS; the
throughput is the whole batch's tokens per second past the first steps, as process 0 saw it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

WARM_UP_STEPS = 20


def corpus_copies(data: Path, copies: int, work: Path) -> Path:
    """A CoNLL directory whose train/ folder holds `copies` copies of `data`'s train split."""
    from tagger.data.sources import Source, resolve

    splits = resolve(Source(str(data))).splits
    corpus = work / f"copies-{copies}"
    (corpus / "train").mkdir(parents=True, exist_ok=True)
    for copy in range(copies):
        shutil.copyfile(splits["train"][0], corpus / "train" / f"part-{copy:03d}.txt")
    shutil.copyfile(splits["validation"][0], corpus / "valid.txt")
    return corpus


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(corpus: Path, processes: int, steps: int, options: Sequence[str], work: Path) -> list[dict]:
    """One run of `processes` workers: each one's report."""
    port, model = free_port(), work / f"model-{time.monotonic_ns()}"
    env = {**os.environ, "HF_DATASETS_CACHE": str(work / "cache")}
    if processes > 1:
        env["OMP_NUM_THREADS"] = "1"
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", "--corpus", str(corpus), "--model", str(model),
                                 "--steps", str(steps), *options], stdout=subprocess.PIPE, text=True,
                                env={**env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                                     "LOCAL_RANK": str(rank), "WORLD_SIZE": str(processes)})
               for rank in range(processes)]
    reports = []
    for worker in workers:
        stdout, _ = worker.communicate()
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise SystemExit(f"a worker of {processes} on {corpus} stopped without a report (exit {worker.returncode})")
        reports.append(json.loads(lines[-1]))
    shutil.rmtree(model, ignore_errors=True)
    return reports


def worker(corpus: Path, model: Path, steps: int, embeddings: str, hidden_size: int) -> None:
    """Train `steps` steps in this process (one of a torchrun-style group); print a JSON report."""
    import resource

    import datasets

    from tagger.core.config import ModelConfig, Runtime, TrainConfig
    from tagger.train.records import Step
    from tagger.train.run import train

    datasets.disable_progress_bars()
    config = TrainConfig(ModelConfig(hidden_size=hidden_size), embeddings=embeddings)
    records = train(config, str(corpus), model, Runtime(device="cpu"))
    started_run = next(records)
    started, tokens, done = None, 0, 0
    for record in records:
        if not isinstance(record, Step):
            break  # an epoch ended first (a tiny corpus): time what was done
        done = record.step
        if record.step == min(WARM_UP_STEPS, steps // 2):
            started = time.perf_counter()
        elif started is not None:
            tokens += record.tokens
        if record.step >= steps:
            break
    seconds = time.perf_counter() - started
    records.close()
    print(json.dumps({"rank": int(os.environ.get("RANK", 0)), "train_sentences": started_run.train_sentences,
                      "train_tokens": started_run.train_tokens, "steps": done, "tokens_per_second": tokens / seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      **_resident_now()}), flush=True)


def _resident_now() -> dict:
    """RSS now, split: anonymous memory (what must fit in RAM) and file pages, such as the
    memory-mapped Arrow files, which the kernel can drop and read again."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {"anonymous_mb": int(fields["RssAnon"].split()[0]) / 1024, "file_mb": int(fields["RssFile"].split()[0]) / 1024}


def measure(data: Path, processes: Sequence[int], copies: Sequence[int], steps: int, runs: int,
            options: Sequence[str]) -> list[dict]:
    """A row per (copies, processes): median tokens/s over `runs`, each process's highest peak RSS."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="tagger-distributed-") as directory:
        work = Path(directory)
        for copy_count in copies:
            corpus = corpus_copies(data, copy_count, work)
            for process_count in processes:
                reports = [run(corpus, process_count, steps, options, work) for _ in range(runs)]
                first = reports[0][0]
                rows.append({"copies": copy_count, "processes": process_count,
                             "train_sentences": first["train_sentences"], "train_tokens": first["train_tokens"],
                             "steps": first["steps"],
                             "tokens_per_second": statistics.median(run[0]["tokens_per_second"] for run in reports),
                             "peak_rss_mb": [max(run[rank]["peak_rss_mb"] for run in reports)
                                             for rank in range(process_count)],
                             "anonymous_mb": [max(run[rank]["anonymous_mb"] for run in reports)
                                              for rank in range(process_count)],
                             "file_mb": [max(run[rank]["file_mb"] for run in reports) for rank in range(process_count)]})
                print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict) -> str:
    def each(key: str) -> str:
        return ", ".join(f"{mb:,.0f}" for mb in row[key])

    return (f"{row['copies']:>3} copies ({row['train_tokens']:,} train tokens), {row['processes']} process(es): "
            f"{row['tokens_per_second']:,.0f} tokens/s; per process: peak RSS {each('peak_rss_mb')} MB, at the end "
            f"{each('anonymous_mb')} MB anonymous + {each('file_mb')} MB file pages")


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/conll2003"), help="CoNLL directory (train, valid)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4, 16], help="copies of the train split")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the median throughput is shown")
    parser.add_argument("--embeddings", default="glove")
    parser.add_argument("--hidden-size", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker:
        worker(arguments.corpus, arguments.model, arguments.steps, arguments.embeddings, arguments.hidden_size)
        return []
    options = ["--embeddings", arguments.embeddings, "--hidden-size", str(arguments.hidden_size)]
    rows = measure(arguments.data, arguments.processes, arguments.copies, arguments.steps, arguments.runs, options)
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
