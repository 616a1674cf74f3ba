"""A model exported to ONNX against the torch model it came from, on a whole CoNLL test set:
the tags of every sentence, tokenised and as raw text, and how far their scores differ.

    python tests/benchmarks/export_check.py --model models/conll2003 --data data/conll2003

Exports `--model` to a temporary directory (`tagger export`), then tags the test sentences
with both (`Tagger.tag` on the tokens; `Tagger.pipe` on each sentence's tokens joined by
spaces, tokenised by tagger) and compares.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tagger.data.corpus import read_conll
from tagger.use.export import export
from tagger.use.predict import Tagger


def compare(model: Path, test: list[list[str]], exported: Path) -> dict:
    torch_tagger, onnx_tagger = Tagger.load(model), Tagger.load(exported)
    tagged, exported_tagged = torch_tagger.tag(test), onnx_tagger.tag(test)
    texts = [" ".join(sentence) for sentence in test]
    docs, exported_docs = list(torch_tagger.pipe(texts)), list(onnx_tagger.pipe(texts))
    spans = [pair for doc, other in zip(docs, exported_docs) for pair in zip(doc.entities, other.entities)]
    return {
        "sentences": len(test), "tokens": sum(map(len, test)),
        "tokenised_tags_differ": sum(a.tags != b.tags for a, b in zip(tagged, exported_tagged)),
        "tokenised_largest_score_difference": max(abs(a.score(entity) - b.score(entity))
                                                  for a, b in zip(tagged, exported_tagged) for entity in a.entities()),
        "raw_text_entities": sum(len(doc.entities) for doc in docs),
        "raw_text_tags_differ": sum(a.tags != b.tags for a, b in zip(docs, exported_docs))
        + sum(a[:4] != b[:4] for a, b in spans),
        "raw_text_largest_score_difference": max(abs(a.score - b.score) for a, b in spans),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/conll2003"))
    parser.add_argument("--data", type=Path, default=Path("data/conll2003"))
    arguments = parser.parse_args(argv)
    test = [list(sentence) for sentence in read_conll(arguments.data / "test.txt")["tokens"]]
    with tempfile.TemporaryDirectory() as work:
        export(arguments.model, Path(work) / "onnx")
        figures = compare(arguments.model, test, Path(work) / "onnx")
    print(f"{figures['sentences']:,} sentences, {figures['tokens']:,} tokens: tags differ in "
          f"{figures['tokenised_tags_differ']} sentences tokenised and {figures['raw_text_tags_differ']} as raw text "
          f"({figures['raw_text_entities']:,} entities); the largest difference of an entity's score is "
          f"{figures['tokenised_largest_score_difference']:.1e} tokenised, "
          f"{figures['raw_text_largest_score_difference']:.1e} as raw text")
    return figures


if __name__ == "__main__":
    main()
