"""Entities drawn in self-contained HTML pages, as displaCy's entity view draws them: each
entity highlighted in its type's colour, the type after it, its score on hover. Inline CSS
only, no scripts and nothing fetched, so a page reads the same offline and with scripts off.

`page_start`, `paragraph` and `page_end` work on plain text and spans, so a stream can be
written a line at a time; `error_page` draws a whole `tagger eval --errors` report."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from tagger.core.entities import Entity
from tagger.use.error_analysis import CATEGORIES, ERROR_CATEGORIES, EntityError, ErrorReport, label

if TYPE_CHECKING:  # evaluation reads data through datasets, which predict's page does without
    from tagger.use.evaluation import Evaluation

Span = tuple[int, int, str, float | None]  # start, end (character offsets), type, score (None: no score)

COLOURS = {"PER": "#aa9cfc", "LOC": "#ff9561", "ORG": "#7aecec", "MISC": "#f5d36c"}  # displaCy's, and a MISC

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #fff;
       max-width: 70em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }
p.text { white-space: pre-wrap; line-height: 2.5; margin: 0 0 1em; }
mark.entity { padding: 0.25em 0.4em; margin: 0 0.1em; border-radius: 0.35em; line-height: 1; color: #222;
              box-decoration-break: clone; -webkit-box-decoration-break: clone; }
mark.entity .label { font-size: 0.65em; font-weight: bold; text-transform: uppercase; margin-left: 0.5em;
                     vertical-align: middle; line-height: 1; }
mark.focus { outline: 2px solid #222; }
table.counts { border-collapse: collapse; margin: 1em 0 2em; }
table.counts caption { text-align: left; padding-bottom: 0.5em; }
table.counts th, table.counts td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; }
table.counts td { text-align: right; font-variant-numeric: tabular-nums; }
table.counts th[scope=row] { text-align: left; }
table.counts tr.all { font-weight: bold; }
div.error { margin: 0 0 1.2em; padding: 0.5em 0.8em; border-left: 3px solid #ddd; }
div.error .reading { display: flex; align-items: baseline; }
div.error .reading + .reading { margin-top: 0.4em; }
div.error .side { flex: 0 0 6em; color: #666; font-size: 0.85em; }
div.error p.text { margin: 0; }
div.error .where { color: #666; font-size: 0.85em; margin-bottom: 0.3em; }
nav a { margin-right: 1em; }
"""


def page_start(title: str) -> str:
    """The page's head, its inline style and the opening of its body."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{escape(title)}</h1>\n")


def page_end() -> str:
    """The close of the page that `page_start` opened."""
    return "</body>\n</html>\n"


def colour(entity_type: str) -> str:
    """The type's highlight: a fixed one for the CoNLL types, and for any other a pastel that
    the name alone decides, so a type keeps its colour from page to page and run to run."""
    if entity_type in COLOURS:
        return COLOURS[entity_type]
    hue = zlib.crc32(entity_type.encode("utf-8")) % 360  # not hash(): Python salts it per process
    return f"hsl({hue}, 75%, 82%)"


def paragraph(text: str, spans: Sequence[Span]) -> str:
    """One line of input as a paragraph, each (start, end, type, score) span of it highlighted;
    spans are character offsets into `text`, sorted and not overlapping. A blank line gives ""."""
    return _paragraph(text, spans)


def _paragraph(text: str, spans: Sequence[Span], focus: Sequence[tuple[int, int]] = ()) -> str:
    if not text.strip():
        return ""
    parts, position = [], 0
    for start, end, entity_type, score in spans:
        if not position <= start <= end <= len(text):
            raise ValueError(f"span {start}-{end} is out of order, overlaps another or lies outside the text")
        title = entity_type if score is None else f"{entity_type} {score:.2f}"
        focused = " focus" if (start, end) in focus else ""
        parts += [escape(text[position:start]),
                  f'<mark class="entity{focused}" data-type="{escape(entity_type)}" title="{escape(title)}" '
                  f'style="background: {colour(entity_type)}">{escape(text[start:end])}'
                  f'<span class="label">{escape(entity_type)}</span></mark>']
        position = end
    parts.append(escape(text[position:]))
    return f'<p class="text">{"".join(parts)}</p>\n'


def evaluation_page(result: Evaluation, where: str, model: Path) -> str:
    """The error page of `tagger eval --html`: `model` scored on the data named `where`."""
    metrics = result.metrics
    summary = (f"Model {model}: {result.sentences:,} sentences, {result.tokens:,} tokens; entity F1 "
               f"{100 * metrics.f1:.2f} (precision {100 * metrics.precision:.2f}, recall {100 * metrics.recall:.2f})")
    return error_page(result.errors, f"Entity errors: {where}", summary)


def error_page(report: ErrorReport, title: str, summary: str = "") -> str:
    """A whole page: entity counts per type and outcome, then every error, by outcome and type,
    in its sentence as gold and as predicted (the entities concerned outlined)."""
    parts = [page_start(title)]
    if summary:
        parts.append(f"<p>{escape(summary)}</p>\n")
    parts.append(_counts_table(report))
    shown = [category for category in ERROR_CATEGORIES if report.errors[category]]
    if not shown:
        parts.append("<p>No errors.</p>\n")
    else:
        parts.append("<nav>" + "".join(f'<a href="#{category}">{escape(label(category))} '
                                       f"({len(report.errors[category]):,})</a>" for category in shown) + "</nav>\n")
    for category in shown:
        parts.append(f'<h2 id="{category}">{escape(label(category).capitalize())} '
                     f"({len(report.errors[category]):,})</h2>\n")
        by_type: dict[str, list[EntityError]] = {}
        for error in report.errors[category]:
            by_type.setdefault(error.entity.type, []).append(error)
        for entity_type, errors in sorted(by_type.items()):
            parts.append(f"<h3>{escape(entity_type)} ({len(errors):,})</h3>\n")
            parts += map(_error_block, errors)
    parts.append(page_end())
    return "".join(parts)


def _counts_table(report: ErrorReport) -> str:
    head = "".join(f'<th scope="col">{escape(label(category))}</th>' for category in CATEGORIES)
    rows = [f'<tr><th scope="row">{escape(name)}</th>'
            + "".join(f"<td>{by_category[category]:,}</td>" for category in CATEGORIES) + "</tr>"
            for name, by_category in sorted(report.counts.items())]
    totals = report.totals()
    rows.append('<tr class="all"><th scope="row">all</th>'
                + "".join(f"<td>{totals[category]:,}</td>" for category in CATEGORIES) + "</tr>")
    return (f'<table class="counts">\n<caption>Entities by outcome (spurious: predicted entities that meet no '
            f'gold one)</caption>\n<thead><tr><th scope="col">type</th>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody>\n</table>\n")


def _error_block(error: EntityError) -> str:
    text, offsets = " ".join(error.tokens), []
    for token in error.tokens:
        start = offsets[-1][1] + 1 if offsets else 0
        offsets.append((start, start + len(token)))

    def spans(entities: Sequence[Entity]) -> list[Span]:
        return [(offsets[entity.start][0], offsets[entity.end - 1][1], entity.type, None) for entity in entities]

    concerned = [(offsets[other.start][0], offsets[other.end - 1][1])
                 for other in (error.entity, *error.gold, *error.predicted)
                 if other.start < error.entity.end and error.entity.start < other.end]
    rows = "".join(f'<div class="reading"><span class="side">{side}</span>'
                   f"{_paragraph(text, spans(entities), concerned)}</div>"
                   for side, entities in (("gold", error.gold), ("predicted", error.predicted)))
    return f'<div class="error"><div class="where">sentence {error.sentence}</div>{rows}</div>\n'
