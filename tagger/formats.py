"""The output formats of `tagger predict`: conll, jsonl, inline and html, each written a line of
input at a time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tagger.predict import Doc
from tagger.text import DOCSTART, Line


@dataclass(frozen=True)
class Format:
    """How to write tagged input: what comes first, each line of input, and what comes last."""

    write: Callable[[Line, Doc], Iterator[str]]
    first: Callable[[], str] = str
    last: Callable[[], str] = str


def format_conll(line: Line, doc: Doc) -> Iterator[str]:
    """`token<TAB>tag` lines, a blank line after each sentence; CoNLL input comes back row by row
    with the predicted tag added as its last column, so that it lines up with the input."""
    if line.rows:
        yield from _rows_with_tags(line, doc)
        return
    for sentence, tagged in zip(doc.sentences, doc.tagged):
        yield "".join(f"{token}\t{tag}\n" for token, tag in zip(sentence.tokens, tagged.tags)) + "\n"


def _rows_with_tags(line: Line, doc: Doc) -> Iterator[str]:
    tags = doc.tags if doc.sentences else ["O" if row.startswith(DOCSTART) else None for row in line.rows]
    for row, tag in zip(line.rows, tags):
        if tag is None:  # a blank or comment row
            yield row
            continue
        content = row.rstrip("\r\n")
        separator = "\t" if "\t" in content else " "
        yield content + separator + tag + (row[len(content):] or "\n")


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps builds a new encoder per call for non-default options


def format_jsonl(line: Line, doc: Doc) -> Iterator[str]:
    """One JSON object per sentence, with the input line it came from (1-based) and its index
    there; entity offsets index the whole input (CoNLL input: the object's text)."""
    offset = 0 if line.rows else line.start
    spans: list[list[dict]] = [[] for _ in doc.sentences]
    for span in doc.entities:
        spans[span.sentence].append({"text": span.text, "type": span.type, "start": span.start + offset,
                                     "end": span.end + offset, "score": round(span.score, 4)})
    for index, (sentence, tagged) in enumerate(zip(doc.sentences, doc.tagged)):
        start, end = sentence.starts[0], sentence.ends[-1]
        record = {"line": line.number, "sentence": index, "text": doc.text[start:end], "tokens": sentence.tokens,
                  "tags": tagged.tags, "entities": spans[index]}
        yield _JSON.encode(record) + "\n"


def format_inline(line: Line, doc: Doc) -> Iterator[str]:
    """The input line with each entity written as `[text](TYPE)`; CoNLL input as its tokens."""
    parts, position = [], 0
    for span in doc.entities:
        parts += [doc.text[position:span.start], f"[{span.text}]({span.type})"]
        position = span.end
    parts.append(doc.text[position:])
    yield "".join(parts)


FORMATS = {"conll": Format(format_conll), "jsonl": Format(format_jsonl), "inline": Format(format_inline)}
