"""What `tagger predict` writes: the tagged input, a line at a time, in one of its formats (conll,
jsonl, inline, html), and a progress line on a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from tagger.data.text import DOCSTART, Input, Line, read_lines
from tagger.use.predict import Doc, Tagger, tag_in_batches


@dataclass(frozen=True)
class Format:
    """How to write tagged input: what comes first, each line of input, and what comes last."""

    write: Callable[[Line, Doc], Iterator[str]]
    first: Callable[[], str] = str
    last: Callable[[], str] = str
    scores: bool = False  # whether it shows each entity's score, which the CRF takes a second pass for


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
        record = {"line": line.number, "sentence": line.first_sentence + index, "text": doc.text[start:end],
                  "tokens": sentence.tokens, "tags": tagged.tags, "entities": spans[index]}
        yield _JSON.encode(record) + "\n"


def format_inline(line: Line, doc: Doc) -> Iterator[str]:
    """The input line with each entity written as `[text](TYPE)`; CoNLL input as its tokens."""
    parts, position = [], 0
    for span in doc.entities:
        parts += [doc.text[position:span.start], f"[{span.text}]({span.type})"]
        position = span.end
    parts.append(doc.text[position:])
    yield "".join(parts)


def format_html(line: Line, doc: Doc) -> Iterator[str]:
    """The line as a paragraph of a page, each entity highlighted, its score on hover."""
    text = doc.text.rstrip("\r\n")  # a paragraph is a line already
    yield _html().paragraph(text, [(span.start, span.end, span.type, span.score) for span in doc.entities])


FORMATS = {"conll": Format(format_conll), "jsonl": Format(format_jsonl, scores=True), "inline": Format(format_inline),
           "html": Format(format_html, lambda: _html().page_start("Entities found by tagger"), lambda: _html().page_end(),
                          scores=True)}


def _html():
    """tagger.use.html, imported only for the format that writes it."""
    from tagger.use import html

    return html


def write_tagged(tagger: Tagger, stream: BinaryIO, name: str, input_format: str, output: Format, out: TextIO, *,
                 min_score: float = 0.0, batch_size: int, processes: int = 1,
                 advance: Callable[[Line], None] = lambda line: None) -> None:
    """Tag `stream` (named `name` in errors) and write it to `out` as it goes: a line is written,
    and flushed, as soon as no more input is waiting, so a live stream is answered line by line.
    A large input is tagged on `processes` worker processes."""
    source = Input(stream)
    lines = read_lines(source, name, input_format)
    out.write(output.first())
    for line, tagged in tag_in_batches(tagger, lines, lambda line: [sentence.tokens for sentence in line.sentences],
                                       batch_size, source.waiting,
                                       processes, with_probabilities=output.scores or min_score > 0):
        out.writelines(output.write(line, Doc(line.text, line.sentences,
                                              [sentence.without_entities_below(min_score) for sentence in tagged])))
        advance(line)
        if not source.waiting():
            out.flush()
    out.write(output.last())
    out.flush()


@contextmanager
def progress_on_terminal() -> Iterator[Callable[[Line], None]]:
    """A live count of the lines and tokens tagged, on stderr when it is a terminal and the output
    goes elsewhere (else the output shows the progress); otherwise nothing."""
    if sys.stderr is None or not sys.stderr.isatty() or sys.stdout.isatty():  # None: stderr closed
        yield lambda line: None
        return
    from rich.console import Console
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("tagged {task.completed:,.0f} lines, {task.fields[tokens]:,} tokens"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                  redirect_stdout=False) as progress:
        task = progress.add_task("", total=None, tokens=0)

        def advance(line: Line) -> None:
            tokens = progress.tasks[0].fields["tokens"] + sum(len(sentence.tokens) for sentence in line.sentences)
            progress.update(task, advance=1, tokens=tokens)

        yield advance
