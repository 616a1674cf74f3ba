"""A model with a transformer's features, its transformer run in float32, in bfloat16 (what
tagging chooses on a CPU that computes in it natively), or with its linear layers dynamically
quantised to int8: test F1 and tagging speed of each.

    python tests/benchmarks/transformer_precision.py --model models/conll2003-minilm

Tagging is the Python API on the pre-tokenised test sentences, on one thread; tokens/s is the
median of `--runs` passes after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from tagger.data.corpus import read_conll, tag_sequences
from tagger.use.metrics import entity_metrics
from tagger.use.predict import Tagger


def with_precision(tagger: Tagger, precision: str) -> None:
    model = tagger.features.model.float()  # as trained, whatever the precision tagging chose
    tagger.features.model = model
    if precision == "bf16":
        tagger.features.model = model.to(torch.bfloat16)
    elif precision == "int8":
        tagger.features.model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--test", type=Path, default=Path("data/conll2003/test.txt"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    arguments = parser.parse_args()
    dataset = read_conll(arguments.test)
    sentences, gold = dataset["tokens"], tag_sequences(dataset)
    tokens = sum(map(len, sentences))
    for precision in arguments.precisions:
        tagger = Tagger.load(arguments.model, "cpu", threads=1)
        if tagger.features is None:
            raise SystemExit(f"{arguments.model}: reads no transformer's features")
        with_precision(tagger, precision)
        predicted = [tagged.tags for tagged in tagger.tag(sentences, with_probabilities=False)]
        seconds = []
        for _ in range(arguments.runs):
            started = time.perf_counter()
            tagger.tag(sentences, with_probabilities=False)
            seconds.append(time.perf_counter() - started)
        f1 = 100 * entity_metrics(gold, predicted).f1
        print(f"{precision}: test F1 {f1:.2f}, {tokens / statistics.median(seconds):,.0f} tokens/s "
              f"({len(sentences):,} sentences, one thread)")


if __name__ == "__main__":
    main()
