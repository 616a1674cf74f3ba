"""What users see of training and evaluation: rich progress bars and tables."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from tagger.core.entities import Entity
from tagger.core.errors import plural
from tagger.train.records import Epoch, Finished, Record, Started, Step, Stopped
from tagger.use.error_analysis import CATEGORIES, ERROR_CATEGORIES, EntityError, ErrorReport, label
from tagger.use.metrics import Metrics

if TYPE_CHECKING:  # the eval back end reads data: the display needs only its type
    from tagger.use.evaluation import Evaluation

EXAMPLES_PER_CATEGORY = 3  # the terminal shows a taste of each kind; the HTML report has every error
CONTEXT_TOKENS = 5  # tokens shown on each side of an example
COLUMNS = ("epoch", "loss", "dev P", "dev R", "dev F1", "time", "tokens/s")


def show_training(records: Iterable[Record], console: Console) -> Finished | Stopped:
    """Render training as it happens: a live bar per epoch, a table row per epoch; returns the
    last record, which says how the run ended."""
    epochs = Table(title="Epochs", title_justify="left")
    for column in COLUMNS:
        epochs.add_column(column, justify="right")
    progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[speed]:,.0f} tok/s"),
                        TimeRemainingColumn(), console=console)
    bar = progress.add_task("", total=None, visible=False, epoch=0, loss=0.0, speed=0.0)
    records = iter(records)
    started = next(records)  # loading the data: its errors come before any display starts
    console.print(_started_summary(started), soft_wrap=True)  # whole lines: a log is read and searched
    if started.untrained_types:
        Console(stderr=True).print(f"warning: dev or test has entity types train has none of: "
                                   f"{', '.join(started.untrained_types)}; the model can only miss them",
                                   soft_wrap=True, markup=False)
    shown_epoch = None
    # A log file already has a line per epoch: the live table is only for terminals.
    with Live(Group(epochs, progress), console=console, refresh_per_second=8,
              transient=not console.is_terminal) as live:
        for record in records:
            if isinstance(record, Step):
                if record.epoch != shown_epoch:  # a new epoch, or a resumed one part done
                    progress.reset(bar, total=record.steps, completed=record.step - 1, visible=True,
                                   epoch=record.epoch)
                    shown_epoch, epoch_started, tokens_seen = record.epoch, time.perf_counter(), 0
                tokens_seen += record.tokens
                speed = tokens_seen / max(time.perf_counter() - epoch_started, 1e-9)
                progress.update(bar, advance=1, loss=record.loss, speed=speed)
            elif isinstance(record, Epoch):
                mark = " *" if record.is_best and record.dev is not None else ""
                dev = ("-", "-", "-") if record.dev is None else \
                    (_pct(record.dev.precision), _pct(record.dev.recall), _pct(record.dev.f1) + mark)
                row = (str(record.epoch), f"{record.loss:.4f}", *dev, f"{record.seconds:.0f}s",
                       f"{record.tokens_per_second:,.0f}")
                epochs.add_row(*row)
                if not console.is_terminal:  # a log file gets no live display: a line per epoch instead
                    scores = "" if record.dev is None else f" dev P/R/F1 {row[2]}/{row[3]}/{row[4]},"
                    live.console.print(f"epoch {row[0]}: loss {row[1]},{scores} {row[5]}, {row[6]} tok/s",
                                       soft_wrap=True)
            elif isinstance(record, (Finished, Stopped)):
                progress.update(bar, visible=False)
                end = record
    if isinstance(end, Finished):
        if end.dev is None:
            console.print(f"Trained for {plural(end.best_epoch, 'epoch')} with no dev set to choose an epoch on (--train-with-dev): "
                          f"the last epoch's model is kept; {end.seconds / 60:.1f} min in all.", soft_wrap=True)
        else:
            reason = "stopped early: no better dev F1" if end.stopped_early else "reached --epochs"
            shown = started.resumed_at is None or end.best_epoch >= started.resumed_at[0]
            where = "* above" if shown else "before this resume"
            console.print(f"Best dev F1 {_pct(end.dev.f1)} at epoch {end.best_epoch} ({where}); {reason}; "
                          f"{end.seconds / 60:.1f} min in all.", soft_wrap=True)
        if end.test is not None:
            title = "Test set (best model)" if end.dev is not None else "Test set (last epoch's model)"
            console.print(metrics_table(end.test, title))
    return end


def _started_summary(started: Started) -> str:
    dev = f"{started.dev_sentences:,} dev (held out from train)" if started.dev_held_out \
        else f"{started.dev_sentences:,} dev"
    known = "the model's words and the pretrained vectors" if started.init_from else "pretrained vectors"
    coverage = "" if started.pretrained_coverage is None \
        else f"; {known} cover {started.pretrained_coverage:.1%} of training tokens"
    if started.transformer is not None:
        coverage += f"; contextual features from {started.transformer}"
    if started.init_from is not None:
        coverage += f"; starting from the model in {started.init_from}"
    processes = "" if started.processes == 1 else f" in {started.processes} processes, each a share of every batch"
    resumed = "" if started.resumed_at is None else \
        f"\nResuming the run at epoch {started.resumed_at[0]} ({plural(started.resumed_at[1], 'step')} of it done)"
    sentences = "sentence" if started.train_sentences == 1 else "sentences"
    trained, dev = "train", f"{dev}, "
    if started.dev_trained:
        trained, dev = ("train and dev", "") if started.dev_sentences else ("train", "no dev split (none held out), ")
    return (f"Data: {started.train_sentences:,} {trained} {sentences} ({started.train_tokens:,} tokens), {dev}"
            f"{started.test_sentences:,} test; tags: {' '.join(started.tags)}\n"
            f"Model: {started.decoder} decoder, {started.parameters:,} parameters, {started.words:,} words{coverage}; "
            f"training on {started.device}{processes}{resumed}")


def show_evaluation(result: Evaluation, where: str, console: Console) -> None:
    """An evaluation's size and speed, its metrics table and, if analysed, its errors."""
    sentences = "sentence" if result.sentences == 1 else "sentences"
    console.print(f"{where}: {result.sentences:,} {sentences}, {result.tokens:,} tokens, tagged in "
                  f"{result.seconds:.1f}s", soft_wrap=True)
    console.print(metrics_table(result.metrics, "Entity precision, recall and F1 (seqeval)"))
    if result.errors is not None:
        console.print(*error_tables(result.errors))


def metrics_table(metrics: Metrics, title: str) -> Table:
    """Precision, recall and F1 per entity type and overall (micro average)."""
    table = Table(title=title, title_justify="left")
    for column in ("type", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for name, values in sorted(metrics.per_type.items()):
        table.add_row(name, _pct(values.precision), _pct(values.recall), _pct(values.f1), f"{values.support:,}")
    table.add_section()
    table.add_row("overall", _pct(metrics.precision), _pct(metrics.recall), _pct(metrics.f1), f"{metrics.support:,}",
                  style="bold")
    table.caption = (f"F1 as seqeval's default mode (conlleval) counts; strict mode (only well-formed "
                     f"entities): {_pct(metrics.strict_f1)}")
    table.caption_justify = "left"
    return table


def error_tables(report: ErrorReport) -> list[Table | str]:
    """Entity counts per type and outcome, and the first few errors of each kind in context."""
    counts = Table(title="Entities by outcome (spurious: predicted entities that meet no gold one)",
                   title_justify="left")
    counts.add_column("type")
    for category in CATEGORIES:
        counts.add_column(label(category), justify="right")
    for name, by_category in sorted(report.counts.items()):
        counts.add_row(name, *(f"{by_category[category]:,}" for category in CATEGORIES))
    counts.add_section()
    totals = report.totals()
    counts.add_row("all", *(f"{totals[category]:,}" for category in CATEGORIES), style="bold")
    errors = [error for category in ERROR_CATEGORIES for error in report.errors[category][:EXAMPLES_PER_CATEGORY]]
    if not errors:
        return [counts, "No errors."]
    examples = Table(title=escape("Examples of errors ([text](TYPE) marks an entity; eval --html lists them all)"),
                     title_justify="left", show_lines=True)
    for column in ("outcome", "sentence", "gold", "predicted"):
        examples.add_column(column)
    for error in errors:
        examples.add_row(label(error.category), str(error.sentence), *map(Text, in_context(error)))
    return [counts, examples]


def in_context(error: EntityError) -> tuple[str, str]:
    """The error's entity and those overlapping it, with a few tokens either side, read as gold
    and as predicted, each entity written [text](TYPE)."""
    involved = [error.entity, *(other for other in error.gold + error.predicted
                                if other.start < error.entity.end and error.entity.start < other.end)]
    first = max(0, min(entity.start for entity in involved) - CONTEXT_TOKENS)
    last = min(len(error.tokens), max(entity.end for entity in involved) + CONTEXT_TOKENS)
    return (_marked(error.tokens, first, last, error.gold), _marked(error.tokens, first, last, error.predicted))


def _marked(tokens: Sequence[str], first: int, last: int, spans: Sequence[Entity]) -> str:
    """Tokens `first` to `last` with the entities among them written as [text](TYPE)."""
    words = list(tokens[first:last])
    for entity in reversed(spans):
        start, end = max(entity.start, first) - first, min(entity.end, last) - first
        if start < end:
            words[start:end] = [f"[{' '.join(words[start:end])}]({entity.type})"]
    return ("… " if first > 0 else "") + " ".join(words) + (" …" if last < len(tokens) else "")


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}"
