"""What keeping fewer pretrained rows, in fewer bits, costs a trained model in F1.

    python tests/benchmarks/size_levers.py --model models/crf-seed1 --data data/conll2003 \\
        all:16 all:8 all:4 all:3 all:2 all:pq10 300000:8 234174:8 234174:4:compact 234174:4 200000:8

`--model` is a model directory of format 2 (the version before the compact directory), whose
frozen rows are in half precision. Each choice `ROWS:STORAGE[:compact]` keeps the first ROWS
frozen rows (the most frequent GloVe words training lacks; `all` for every one) stored as
STORAGE: 16 (half precision), 8, 4, 3 or 2 bits a value with a scale per row, or `pq10`
(product quantisation: 10 codebooks of 256 centroids over 5 dimensions each); `compact` also
stores the trained rows in 8 bits and every other weight in half precision, as weights.pt
does. Words past ROWS become unknown. Prints dev and test F1 for each choice; the model's
epoch stays the one its run chose. `megabytes`: the model directory's size as scored (its
tensors' bytes, and the vocabulary, frozen words sorted, as gzip-compressed JSON);
`megabytes_compact`: the same with the rest of the weights compact.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from tagger.data.corpus import read_conll, tag_sequences
from tagger.model.encoding import Vocabulary
from tagger.model.modeldir import load_model
from tagger.use.metrics import entity_metrics
from tagger.use.predict import Tagger


def scalar(rows: np.ndarray, bits: int) -> np.ndarray:
    """`rows` as `bits`-bit integers with a float16 scale per row, read back."""
    levels = 2 ** (bits - 1) - 1
    scales = (np.abs(rows).max(axis=1, keepdims=True) / levels).astype(np.float16).astype(np.float32)
    scales[scales == 0] = 1.0
    return np.clip(np.rint(rows / scales), -levels, levels) * scales


def product_quantised(rows: np.ndarray, books: int, centroids: int = 256, iterations: int = 25,
                      sample: int = 60_000) -> np.ndarray:
    """`rows` with each of `books` slices of their dimensions replaced by the nearest of
    `centroids` k-means centroids, learnt on a sample of the rows."""
    width = rows.shape[1] // books
    result = np.empty_like(rows)
    for book in range(books):
        pick = np.random.default_rng(book)
        part = rows[:, book * width:(book + 1) * width]
        learn = part[pick.choice(len(part), min(sample, len(part)), replace=False)]
        means = learn[pick.choice(len(learn), centroids, replace=False)].copy()
        for _ in range(iterations):
            nearest = _nearest(learn, means)
            for index in range(centroids):
                members = learn[nearest == index]
                means[index] = members.mean(axis=0) if len(members) else learn[pick.integers(len(learn))]
        result[:, book * width:(book + 1) * width] = means[_nearest(part, means)]
    return result


def _nearest(points: np.ndarray, means: np.ndarray) -> np.ndarray:
    return np.concatenate([((chunk ** 2).sum(1)[:, None] - 2 * chunk @ means.T + (means ** 2).sum(1)[None]).argmin(1)
                           for chunk in np.array_split(points, max(1, len(points) // 20_000))])


def megabytes(tagger: Tagger, storage: str, compact: bool) -> float:
    """The model directory's size with its frozen rows stored as `storage`, the other weights
    in float32 or (`compact`) as a model directory keeps them, and its vocabulary as
    vocab.json.gz (the frozen words in sorted order)."""
    model, encoder = tagger.model, tagger.encoder
    kept, width = model.dimensions.frozen_words, model.frozen_vectors.shape[1]
    trained = len(encoder.words) - kept
    if storage.startswith("pq"):
        frozen = kept * int(storage[2:]) + 256 * width * 2  # a byte a codebook a row, and the codebooks
    else:
        frozen = kept * width * 2 if storage == "16" else kept * (width * int(storage) // 8 + 2)
    others = sum(parameter.numel() for name, parameter in model.named_parameters() if not name.startswith("word_"))
    rest = trained * (width + 2) + others * 2 if compact else (trained * width + others) * 4
    items = encoder.words.items
    words = Vocabulary(items[2:trained] + sorted(items[trained:]), sorted_from=trained)
    text = json.dumps({**encoder.to_dict(), "words": words.to_dict()}, ensure_ascii=False, separators=(",", ":"))
    return (frozen + rest + len(gzip.compress(text.encode(), compresslevel=9, mtime=0))) / 1e6


def with_choice(model_dir: Path, choice: str) -> Tagger:
    """The model in `model_dir` with its frozen rows (and, `compact`, its other weights) stored as `choice` says."""
    rows, storage, *compact = choice.split(":")
    saved = load_model(model_dir)
    model, encoder = saved.model, saved.encoder
    trained = model.trained_words
    kept = model.dimensions.frozen_words if rows == "all" else min(int(rows), model.dimensions.frozen_words)
    frozen = model.frozen_vectors[:kept].float().numpy()
    if storage.startswith("pq"):
        frozen = product_quantised(frozen, int(storage[2:]))
    elif int(storage) < 16:
        frozen = scalar(frozen, int(storage))
    encoder.words = Vocabulary(encoder.words.items[2:trained + kept])
    model.dimensions = replace(model.dimensions, word_count=trained + kept, frozen_words=kept)
    model.frozen_vectors = torch.from_numpy(frozen.astype(np.float16) if storage == "16" else frozen)
    if compact:
        with torch.no_grad():
            model.word_embedding.weight.copy_(torch.from_numpy(scalar(model.word_embedding.weight.numpy(), 8)))
            for name, parameter in model.named_parameters():
                if not name.startswith("word_embedding"):
                    parameter.copy_(parameter.half().float())
    return Tagger(model, encoder)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model directory of format 2")
    parser.add_argument("--data", type=Path, default=Path("data/conll2003"))
    parser.add_argument("choices", nargs="+", help="ROWS:STORAGE[:compact], e.g. all:16 234174:4:compact")
    arguments = parser.parse_args(argv)
    splits = {name: read_conll(arguments.data / f"{name}.txt") for name in ("valid", "test")}
    data = {name: (list(split["tokens"]), tag_sequences(split)) for name, split in splits.items()}
    rows = []
    for choice in arguments.choices:
        tagger = with_choice(arguments.model, choice)
        scores = {}
        for name, (sentences, gold) in data.items():
            predicted = [tagged.tags for tagged in tagger.tag(sentences, with_probabilities=False)]
            scores[name] = round(100 * entity_metrics(gold, predicted).f1, 2)
        storage, compact = choice.split(":")[1], choice.endswith(":compact")
        sizes = {"megabytes": round(megabytes(tagger, storage, compact), 2),
                 "megabytes_compact": round(megabytes(tagger, storage, True), 2)}
        rows.append({"choice": choice, **sizes, **scores})
        print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    main()
