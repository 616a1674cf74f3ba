"""How close tagger's sentence splitter and tokenizer come to CoNLL-2003's own tokens, and how fast.

    python tests/benchmarks/tokenizer.py --text data/conll2003/test.txt

Each sentence of the CoNLL file, its tokens joined by spaces, is one line of raw text: it
counts the sentences split back into exactly CoNLL's tokens, those kept as one sentence, and
tokens per second (the median of `--runs` passes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tagger.data.corpus import read_conll
from tagger.data.text import split_sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, default=Path("data/conll2003/test.txt"), help="a CoNLL file")
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    sentences = list(read_conll(arguments.text)["tokens"])
    lines = [" ".join(tokens) for tokens in sentences]
    split = [split_sentences(line) for line in lines]
    same_tokens = sum([token for part in parts for token in part.tokens] == tokens
                      for parts, tokens in zip(split, sentences))
    one_sentence = sum(len(parts) == 1 for parts in split)
    seconds = []
    for _ in range(arguments.runs):
        started = time.perf_counter()
        for line in lines:
            split_sentences(line)
        seconds.append(time.perf_counter() - started)
    tokens = sum(map(len, sentences))
    print(f"{len(sentences):,} sentences, {tokens:,} tokens: CoNLL's own tokens for {same_tokens:,}, "
          f"kept as one sentence {one_sentence:,}; {tokens / statistics.median(seconds):,.0f} tokens/s")


if __name__ == "__main__":
    main()
