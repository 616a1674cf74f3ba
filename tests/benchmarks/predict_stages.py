"""Where predict's time goes, stage by stage, on one thread: tokenising, encoding, the network,
decoding, and writing JSON lines.

    python tests/benchmarks/predict_stages.py --model models/conll2003 --text data/conll2003/test.txt

The text is the CoNLL file's sentences, tokens joined by spaces, one per line, `--repeat`
times over, tagged as `tagger predict --format jsonl` tags it (the same functions, in the
same batches), with each stage timed on its own; the median of `--runs` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from tagger.data.corpus import read_conll
from tagger.data.text import read_lines
from tagger.model.decoding import decode
from tagger.use.formats import format_jsonl
from tagger.use.predict import Doc, Tagged, Tagger, _batches

STAGES = ("tokenising", "encoding", "network", "decoding", "writing")


def stage_seconds(tagger: Tagger, text: bytes) -> dict[str, float]:
    """Seconds in each stage of tagging `text` and writing it as JSON lines."""
    seconds = dict.fromkeys(STAGES, 0.0)
    started = time.perf_counter()
    lines = list(read_lines(io.BytesIO(text), "text"))
    seconds["tokenising"] = time.perf_counter() - started
    sentences = [sentence.tokens for line in lines for sentence in line.sentences]
    results: list[Tagged | None] = [None] * len(sentences)
    for numbers in _batches(sentences):
        started = time.perf_counter()
        batch = tagger.encoder.encode([sentences[number] for number in numbers])
        encoded = time.perf_counter()
        logits, transitions = tagger.model.scores(batch)
        scored = time.perf_counter()
        tag_ids, probabilities = decode(logits, batch.lengths, tagger.constraints, transitions)
        for row, (number, length) in enumerate(zip(numbers, batch.lengths.tolist())):
            results[number] = Tagged(tagger.encoder.decode(tag_ids[row, :length].tolist()),
                                     probabilities[row, :length].tolist())
        decoded = time.perf_counter()
        seconds["encoding"] += encoded - started
        seconds["network"] += scored - encoded
        seconds["decoding"] += decoded - scored
    started = time.perf_counter()
    out, tagged = io.StringIO(), iter(results)
    for line in lines:
        out.writelines(format_jsonl(line, Doc(line.text, line.sentences, [next(tagged) for _ in line.sentences])))
    seconds["writing"] = time.perf_counter() - started
    return seconds


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/conll2003"))
    parser.add_argument("--text", type=Path, default=Path("data/conll2003/test.txt"), help="a CoNLL file")
    parser.add_argument("--repeat", type=int, default=4, help="times its text is repeated")
    parser.add_argument("--runs", type=int, default=5, help="runs (the median of each stage is kept)")
    arguments = parser.parse_args(argv)
    sentences = list(read_conll(arguments.text)["tokens"])
    text = ("".join(" ".join(sentence) + "\n" for sentence in sentences) * arguments.repeat).encode("utf-8")
    tokens = sum(map(len, sentences)) * arguments.repeat
    tagger = Tagger.load(arguments.model, "cpu")
    stage_seconds(tagger, text)
    runs = [stage_seconds(tagger, text) for _ in range(arguments.runs)]
    medians = {stage: statistics.median(run[stage] for run in runs) for stage in STAGES}
    total = sum(medians.values())
    print(f"{tokens:,} tokens, {total:.2f} s in all ({tokens / total:,.0f} tokens/s on one thread):")
    for stage, seconds in medians.items():
        print(f"  {stage:<11} {seconds:6.2f} s  {seconds / total:6.1%}  {tokens / seconds:>12,.0f} tokens/s")
    return medians


if __name__ == "__main__":
    main()
