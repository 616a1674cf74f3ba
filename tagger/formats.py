"""The output formats of `tagger predict`: conll, jsonl and inline."""

from __future__ import annotations

import json
from collections.abc import Iterator

from tagger.predict import Tagged
from tagger.text import Line, Sentence


def format_conll(line: Line, tagged: list[Tagged]) -> Iterator[str]:
    """`token<TAB>tag` lines, a blank line after each sentence."""
    for sentence, sentence_tagged in zip(line.sentences, tagged):
        yield "".join(f"{token}\t{tag}\n" for token, tag in zip(sentence.tokens, sentence_tagged.tags)) + "\n"


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps builds a new encoder per call for non-default options


def format_jsonl(line: Line, tagged: list[Tagged]) -> Iterator[str]:
    """One JSON object per sentence; entity offsets index the whole input."""
    for sentence, sentence_tagged in zip(line.sentences, tagged):
        start, end = sentence.starts[0], sentence.ends[-1]
        record = {"text": line.text[start - line.start:end - line.start], "tokens": sentence.tokens,
                  "tags": sentence_tagged.tags, "entities": _entity_spans(line, sentence, sentence_tagged)}
        yield _JSON.encode(record) + "\n"


def format_inline(line: Line, tagged: list[Tagged]) -> Iterator[str]:
    """The input line with each entity written as `[text](TYPE)`."""
    parts, position = [], 0
    for sentence, sentence_tagged in zip(line.sentences, tagged):
        for span in _entity_spans(line, sentence, sentence_tagged):
            start, end = span["start"] - line.start, span["end"] - line.start
            parts += [line.text[position:start], f"[{span['text']}]({span['type']})"]
            position = end
    parts.append(line.text[position:])
    yield "".join(parts)


FORMATS = {"conll": format_conll, "jsonl": format_jsonl, "inline": format_inline}


def _entity_spans(line: Line, sentence: Sentence, tagged: Tagged) -> list[dict]:
    spans = []
    for entity in tagged.entities():
        start, end = sentence.starts[entity.start], sentence.ends[entity.end - 1]
        spans.append({"text": line.text[start - line.start:end - line.start], "type": entity.type,
                      "start": start, "end": end, "score": round(tagged.score(entity), 4)})
    return spans
