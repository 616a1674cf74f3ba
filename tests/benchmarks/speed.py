"""tagger's speed beside spaCy's and a plain PyTorch Bi-LSTM's, measured in one run on this machine.

    python tests/benchmarks/speed.py --model models/conll2003 --json speed.json

Measures, each after a warm-up, as the median of `--runs` runs:
- predict end to end: raw text in (the test sentences, tokens joined by spaces, one per
  line, `--repeat` times over), jsonl out, tokenisation included, each tool in its own
  process, tagger with its defaults (worker processes on every core for a large input);
  tokens/s counts the text's CoNLL tokens over the time past start-up (the run's wall time
  less the median start-up on one sentence); peak memory is the largest sum, sampled every
  200 ms, of the proportional set sizes (PSS) of the process and every process it started;
- the same for the model exported to ONNX (`tagger export`), when onnx and onnxruntime are
  installed and the model reads no transformer (which export does not convert);
- model only: the Python API on the pre-tokenised test sentences, entity probabilities
  included, one thread, against a plain word-level PyTorch Bi-LSTM of the same hidden size
  (embedding -> packed Bi-LSTM -> linear -> argmax) on one thread;
- training: seconds per epoch over the train split (the training loop only, no dev
  scoring) and peak RSS, against the plain Bi-LSTM trained the same way on torch's own
  threads (all the cores);
- start-up: `tagger predict` (and spaCy's load and first sentence) on one short sentence;
- model directory size.
With `--busy`, predict and training are measured again with one core kept busy by another
process (`python -c "while True: pass"`, started and stopped here), in their own column.
With spaCy installed (`pip install -e '.[bench]'`) its figures come beside tagger's, with
ratios; its model is trained on the same data with `spacy train` and spaCy's efficiency
config in `--spacy-dir`, or reused from there.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tagger.data.corpus import read_conll, tag_sequences
from tagger.model.encoding import length_bucketed_batches, normalise_word
from tagger.use.predict import Tagger

ONE_SENTENCE = b"Angela Merkel met Emmanuel Macron in Paris on Tuesday.\n"

# spaCy's side runs in child processes, so that its imports and memory are its own.
SPACY_PREDICT = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
lines = open(sys.argv[2], encoding="utf-8").read().splitlines()
out = sys.stdout
for doc in nlp.pipe(lines):
    out.write(json.dumps({"text": doc.text, "tokens": [t.text for t in doc], "entities": [
        {"text": e.text, "type": e.label_, "start": e.start_char, "end": e.end_char} for e in doc.ents]},
        ensure_ascii=False) + "\\n")
"""
SPACY_TRAIN = """
import json, random, sys, time, spacy
from spacy.training import Corpus
from spacy.training.batchers import minibatch_by_words
from spacy.util import load_config, load_model_from_config
nlp = load_model_from_config(load_config(sys.argv[1]), auto_fill=True)
examples = list(Corpus(sys.argv[2])(nlp))
optimizer = nlp.initialize(lambda: examples)
seconds = []
for epoch in range(int(sys.argv[3])):
    random.Random(epoch).shuffle(examples)
    started = time.perf_counter()
    for batch in minibatch_by_words(examples, size=1000, tolerance=0.2):
        nlp.update(batch, drop=0.1, sgd=optimizer)
    seconds.append(time.perf_counter() - started)
print(json.dumps(seconds))
"""
TAGGER_TRAIN = """
import json, sys
from pathlib import Path
from tagger.core.config import TrainConfig
from tagger.train.records import Epoch
from tagger.train.run import train
config = TrainConfig(epochs=int(sys.argv[3]), patience=int(sys.argv[3]))
seconds = [record.seconds for record in train(config, sys.argv[1], Path(sys.argv[2])) if isinstance(record, Epoch)]
print(json.dumps(seconds))
"""


@dataclass
class Row:
    """One measurement for each side; `ratio` is tagger over the other side."""

    name: str
    unit: str
    tagger: float
    other: float | None = None
    other_name: str = ""
    higher_is_better: bool = True
    busy: float | None = None  # tagger's figure with one core kept busy

    @property
    def ratio(self) -> float | None:
        return None if not self.other else self.tagger / self.other

    @property
    def busy_ratio(self) -> float | None:
        """The figure with one core busy over the quiet one: for seconds, its inverse (speed kept)."""
        if self.busy is None:
            return None
        return self.busy / self.tagger if self.higher_is_better else self.tagger / self.busy


@dataclass
class Report:
    machine: str
    tokens: dict[str, int]
    rows: list[Row] = field(default_factory=list)
    targets: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"machine": self.machine, "tokens": self.tokens, "targets": self.targets,
                "rows": [{**asdict(row), "ratio": row.ratio, "busy_ratio": row.busy_ratio} for row in self.rows]}


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """Median of `runs` calls after one warm-up call."""
    measure()
    return statistics.median(measure() for _ in range(runs))


def interleaved(runs: int, measures: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Each measure's median of `runs`, after a warm-up round, taking each in turn every round."""
    rounds = [{name: measure() for name, measure in measures.items()} for _ in range(runs + 1)][1:]
    return {name: statistics.median(round_[name] for round_ in rounds) for name in measures}


def run_process(argv: Sequence[str], stdin_path: Path | None = None, env: dict | None = None,
                sample_memory: bool = False) -> tuple[float, float, bytes]:
    """Run a child to the end: its wall seconds, its peak memory in MB, its stdout. The memory is
    wait4's peak RSS of the child (of its largest process, if it started others); with
    `sample_memory`, the largest sum of the PSS of it and its descendants, sampled."""
    with open(stdin_path or os.devnull, "rb") as stdin, tempfile.TemporaryFile() as stdout:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdin=stdin, stdout=stdout, env=env)
        peak = [0.0]
        sampler = threading.Thread(target=_sample_memory, args=(child.pid, peak), daemon=True)
        if sample_memory:
            sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait
        if sample_memory:
            sampler.join()
        stdout.seek(0)
        output = stdout.read()
    if child.returncode != 0:
        what = "a benchmark script" if "-c" in argv else " ".join(map(str, argv[:4]))
        raise RuntimeError(f"{what} exited with {child.returncode} (its error is above)")
    return seconds, peak[0] or usage.ru_maxrss / 1024, output


def _sample_memory(pid: int, peak: list[float]) -> None:
    """Until `pid` ends, every 200 ms: the summed PSS, in MB, of it and its descendants, into peak[0].
    Not more often: the kernel walks a process's pages to sum its PSS, some milliseconds for a
    gigabyte, and a sampler that took a core's share would slow what it measures."""
    while True:
        total, found = 0, False
        for process in _process_tree(pid):
            try:
                with open(f"/proc/{process}/smaps_rollup") as rollup:
                    total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
                    found = True
            except (OSError, StopIteration):
                continue
        if not found:
            return
        peak[0] = max(peak[0], total / 1024)
        time.sleep(0.2)


def _process_tree(pid: int) -> list[int]:
    tree, index = [pid], 0
    while index < len(tree):
        try:
            for task in os.listdir(f"/proc/{tree[index]}/task"):
                with open(f"/proc/{tree[index]}/task/{task}/children") as children:
                    tree += map(int, children.read().split())
        except OSError:
            pass
        index += 1
    return tree


@contextmanager
def one_core_busy(busy: bool) -> Iterator[None]:
    """With `busy`, another process spins on a core for the duration, as a second program would."""
    if not busy:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def end_to_end(argv: Sequence[str], text: Path, one_sentence: Path, tokens: int, runs: int,
               busy: bool = False) -> dict[str, float]:
    """Start-up on one sentence, then tokens/s past start-up and peak memory on the whole text;
    with `busy`, the tokens/s with one core busy too."""
    startup = median_of(runs, lambda: run_process([*argv, str(one_sentence)])[0])
    walls, peaks = [], []
    for _ in range(runs + 1):
        seconds, peak, _ = run_process([*argv, str(text)], sample_memory=True)
        walls.append(seconds)
        peaks.append(peak)
    wall = statistics.median(walls[1:])
    figures = {"startup_s": startup, "tokens_per_s": tokens / (wall - startup), "wall_s": wall,
               "peak_mb": statistics.median(peaks[1:]), "busy_tokens_per_s": None}
    if busy:  # start-up too is taken with the core busy, so that what is left is the tagging's time
        with one_core_busy(True):
            busy_startup = statistics.median(run_process([*argv, str(one_sentence)])[0] for _ in range(runs))
            busy_wall = statistics.median(run_process([*argv, str(text)])[0] for _ in range(runs))
        figures["busy_tokens_per_s"] = tokens / (busy_wall - busy_startup)
    return figures


class PlainBiLSTM(nn.Module):
    """The reference: word embedding -> packed Bi-LSTM -> linear, and nothing else."""

    def __init__(self, words: int, tags: int, hidden_size: int, word_dim: int = 50):
        super().__init__()
        self.embedding = nn.Embedding(words, word_dim, padding_idx=0)
        self.lstm = nn.LSTM(word_dim, hidden_size, batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(2 * hidden_size, tags)

    def forward(self, word_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embedding(word_ids), lengths, batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=word_ids.shape[1])
        return self.classifier(states)


def padded(rows: Sequence[Sequence[int]], fill: int) -> torch.Tensor:
    width = max(map(len, rows))
    return torch.tensor([list(row) + [fill] * (width - len(row)) for row in rows])


def reference_vocabulary(train: Sequence[Sequence[str]]) -> dict[str, int]:
    """Training words only, from 2 (0 pads, 1 is the unknown word)."""
    words = dict.fromkeys(normalise_word(token) for sentence in train for token in sentence)
    return {word: index for index, word in enumerate(words, start=2)}


def reference_ids(vocabulary: dict[str, int], sentences: Sequence[Sequence[str]]) -> list[list[int]]:
    return [[vocabulary.get(normalise_word(token), 1) for token in sentence] for sentence in sentences]


def reference_forward_seconds(model: PlainBiLSTM, vocabulary: dict[str, int], sentences: Sequence[Sequence[str]],
                              batch_size: int = 256) -> float:
    """Words to ids to tags, batched by length as tagger batches them."""
    started = time.perf_counter()
    ids = reference_ids(vocabulary, sentences)
    order = sorted(range(len(ids)), key=lambda index: len(ids[index]))
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            rows = [ids[index] for index in order[first:first + batch_size]]
            lengths = torch.tensor([len(row) for row in rows])
            model(padded(rows, 0), lengths).argmax(dim=-1).tolist()
    return time.perf_counter() - started


def reference_epoch_seconds(model: PlainBiLSTM, ids: Sequence[Sequence[int]], tags: Sequence[Sequence[int]],
                            seed: int, batch_size: int = 16) -> float:
    """One epoch of Adam on cross-entropy, in tagger's batches (similar lengths, random order)."""
    batches = length_bucketed_batches([len(row) for row in ids], batch_size, random.Random(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    started = time.perf_counter()
    for batch in batches:
        lengths = torch.tensor([len(ids[index]) for index in batch])
        scores = model(padded([ids[index] for index in batch], 0), lengths)
        loss = nn.functional.cross_entropy(scores.flatten(0, 1), padded([tags[index] for index in batch],
                                                                           -100).flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    return time.perf_counter() - started


def directory_mb(path: Path) -> float:
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file()) / 1e6


def train_spacy(data: Path, work: Path) -> Path:
    """spaCy's NER on the same CoNLL files, with its efficiency config: the best model's directory."""
    spacy = [sys.executable, "-m", "spacy"]
    work.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        subprocess.run([*spacy, "convert", str(data / f"{split}.txt"), str(work), "-c", "ner", "-n", "10"],
                       check=True, stdout=subprocess.DEVNULL)
    config = work / "efficiency.cfg"
    subprocess.run([*spacy, "init", "config", str(config), "--lang", "en", "--pipeline", "ner",
                    "--optimize", "efficiency", "--force"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*spacy, "train", str(config), "--output", str(work / "trained"),
                    "--paths.train", str(work / "train.spacy"), "--paths.dev", str(work / "valid.spacy")],
                   check=True)
    return work / "trained" / "model-best"


def measure(model: Path, data: Path, spacy_work: Path | None, runs: int, repeat: int,
            train_epochs: int, work: Path, busy: bool = False) -> Report:
    train_split, test_split = read_conll(data / "train.txt"), read_conll(data / "test.txt")
    train, test = list(train_split["tokens"]), list(test_split["tokens"])  # lists: a Column reads row by row
    gc.freeze()  # the benchmark's own data stays out of the collector's passes over what it measures (main unfreezes)
    test_tokens = sum(map(len, test))
    text = work / "text.txt"
    text.write_text("".join(" ".join(sentence) + "\n" for sentence in test) * repeat, encoding="utf-8")
    one_sentence = work / "one.txt"
    one_sentence.write_bytes(ONE_SENTENCE)
    report = Report(f"{os.cpu_count()} CPUs, torch {torch.__version__}",
                    {"test": test_tokens, "text": test_tokens * repeat, "train": sum(map(len, train))})

    spacy_model = None
    if spacy_work is not None:
        spacy_model = spacy_work / "trained" / "model-best"
        if not (spacy_model / "meta.json").is_file():
            spacy_model = train_spacy(data, spacy_work)
    exported = None
    reads_transformer = json.loads((model / "config.json").read_text())["dimensions"].get("feature_dim", 0)
    if importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime") and not reads_transformer:
        exported = work / "onnx"
        run_process([sys.executable, "-m", "tagger", "export", "--model", str(model), "--to", str(exported)])

    spacy_run = None
    if spacy_model is not None:
        spacy_run = end_to_end([sys.executable, "-c", SPACY_PREDICT, str(spacy_model)], text, one_sentence,
                               test_tokens * repeat, runs)
    other = (lambda key: spacy_run[key]) if spacy_run else (lambda key: None)
    for path, suffix in ((model, ""), (exported, ", ONNX")):
        if path is None:
            continue
        run = end_to_end([sys.executable, "-m", "tagger", "predict", "--model", str(path), "--format", "jsonl",
                          "--input"], text, one_sentence, test_tokens * repeat, runs, busy)
        report.rows += [
            Row(f"predict end to end{suffix}", "tokens/s", run["tokens_per_s"], other("tokens_per_s"), "spaCy",
                busy=run["busy_tokens_per_s"]),
            Row(f"predict peak memory{suffix}", "MB", run["peak_mb"], other("peak_mb"), "spaCy", False),
            Row(f"start-up, one sentence{suffix}", "s", run["startup_s"], other("startup_s"), "spaCy", False),
        ]

    torch.set_num_threads(1)
    saved = Tagger.load(model, "cpu")
    hidden, tags, vocabulary = saved.model.config.hidden_size, saved.encoder.tags, reference_vocabulary(train)
    reference = PlainBiLSTM(len(vocabulary) + 2, len(tags), hidden).eval()
    taggers = {suffix: Tagger.load(path, "cpu") for path, suffix in ((model, ""), (exported, ", ONNX")) if path}
    # In turns, a run of each side after the other, so that the machine's drift touches all alike.
    times = interleaved(runs, {"reference": lambda: reference_forward_seconds(reference, vocabulary, test),
                               **{suffix: (lambda tagger=tagger: _seconds(lambda: tagger.tag(test)))
                                  for suffix, tagger in taggers.items()}})
    for suffix in taggers:
        report.rows.append(Row(f"model only (pre-tokenised){suffix}", "tokens/s", test_tokens / times[suffix],
                               test_tokens / times["reference"], "plain Bi-LSTM"))

    if train_epochs:
        epoch, train_peak = _tagger_epoch(data, work, train_epochs)
        busy_epoch = _tagger_epoch(data, work, train_epochs, busy=True)[0] if busy else None
        tag_ids = [[tags.id(tag) for tag in sentence_tags] for sentence_tags in tag_sequences(train_split)]
        torch.set_num_threads(os.cpu_count() or 1)  # torch's own default, as a plain script has it
        torch.manual_seed(1)
        reference = PlainBiLSTM(len(vocabulary) + 2, len(tags), hidden)
        train_ids = reference_ids(vocabulary, train)
        reference_epoch = statistics.median(reference_epoch_seconds(reference, train_ids, tag_ids, seed)
                                            for seed in range(train_epochs))
        report.rows.append(Row("training epoch", "s", epoch, reference_epoch, "plain Bi-LSTM", False, busy_epoch))
        spacy_epoch = spacy_train_peak = None
        if spacy_model is not None:
            _, spacy_train_peak, output = run_process([sys.executable, "-c", SPACY_TRAIN,
                                                       str(spacy_model / "config.cfg"),
                                                       str(spacy_work / "train.spacy"), str(train_epochs)])
            spacy_epoch = statistics.median(json.loads(output))
        report.rows += [
            Row("training", "tokens/s", report.tokens["train"] / epoch,
                spacy_epoch and report.tokens["train"] / spacy_epoch, "spaCy",
                busy=busy_epoch and report.tokens["train"] / busy_epoch),
            Row("training peak memory", "MB", train_peak, spacy_train_peak, "spaCy", False),
        ]
    for path, suffix in ((model, ""), (exported, ", ONNX")):
        if path is not None:
            report.rows.append(Row(f"model directory{suffix}", "MB", directory_mb(path),
                                   spacy_model and directory_mb(spacy_model), "spaCy", False))
    report.targets = _targets(report)
    return report


def _tagger_epoch(data: Path, work: Path, epochs: int, busy: bool = False) -> tuple[float, float]:
    """tagger's median training epoch, in seconds, and the training process's peak memory."""
    with tempfile.TemporaryDirectory(dir=work) as model_dir, one_core_busy(busy):
        _, peak, output = run_process([sys.executable, "-c", TAGGER_TRAIN, str(data), str(Path(model_dir) / "model"),
                                       str(epochs)])
    return statistics.median(json.loads(output)), peak


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _targets(report: Report) -> dict[str, bool]:
    """The targets that this run's figures can settle."""
    rows = {row.name: row for row in report.rows}
    targets = {}
    for suffix in ("", ", ONNX"):
        if f"model only (pre-tokenised){suffix}" not in rows:
            continue
        targets[f"model only{suffix} >= 0.8x plain Bi-LSTM"] = rows[f"model only (pre-tokenised){suffix}"].ratio >= 0.8
        if rows[f"predict end to end{suffix}"].ratio is not None:
            targets[f"predict{suffix} >= 3x spaCy"] = rows[f"predict end to end{suffix}"].ratio >= 3.0
            targets[f"predict peak memory{suffix} < spaCy"] = rows[f"predict peak memory{suffix}"].ratio < 1.0
        if rows[f"predict end to end{suffix}"].busy is not None:
            predict = rows[f"predict end to end{suffix}"]
            targets[f"predict{suffix} with a core busy >= 0.8x quiet"] = predict.busy_ratio >= 0.8
        targets[f"model directory{suffix} <= 10 MB"] = rows[f"model directory{suffix}"].tagger <= 10.0
    if "start-up, one sentence, ONNX" in rows:
        targets["start-up, ONNX <= 0.5 s"] = rows["start-up, one sentence, ONNX"].tagger <= 0.5
    if "training epoch" in rows:
        targets["training epoch <= 1.0x plain Bi-LSTM"] = rows["training epoch"].ratio <= 1.0
        if rows["training"].ratio is not None:
            targets["training >= 1.5x spaCy's tokens/s"] = rows["training"].ratio >= 1.5
        if rows["training"].busy is not None:
            targets["training with a core busy >= 0.8x quiet"] = rows["training"].busy_ratio >= 0.8
    return targets


def show(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"tagger speed ({report.machine})")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("measure", "unit", "other side") else "right")
    for row in report.rows:
        table.add_row(*_cells(row))
    console = Console()
    console.print(table)
    for target, met in report.targets.items():
        console.print(f"{'met' if met else 'NOT met'}: {target}")


def markdown(report: Report) -> str:
    """The figures as a Markdown table, for the README."""
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "| " + " | ".join("---" if column in ("measure", "unit", "other side") else "---:" for column in COLUMNS)
             + " |"]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in report.rows]
    return "\n".join(lines)


COLUMNS = ("measure", "unit", "tagger", "other", "other side", "tagger / other", "one core busy", "busy / quiet")


def _cells(row: Row) -> list[str]:
    return [row.name, row.unit, _figure(row.tagger), _figure(row.other), row.other_name if row.other else "",
            "" if row.ratio is None else f"{row.ratio:.2f}x", _figure(row.busy),
            "" if row.busy_ratio is None else f"{row.busy_ratio:.2f}x"]


def _figure(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/conll2003"))
    parser.add_argument("--data", type=Path, default=Path("data/conll2003"),
                        help="CoNLL directory with train.txt, valid.txt and test.txt")
    parser.add_argument("--spacy-dir", type=Path, default=Path("models/spacy-conll2003"),
                        help="spaCy's converted data and model: trained there, or reused")
    parser.add_argument("--no-spacy", action="store_true", help="leave spaCy out even when it is installed")
    parser.add_argument("--runs", type=int, default=5, help="runs of each measurement (the median is kept)")
    parser.add_argument("--repeat", type=int, default=4, help="times the test text is repeated for predict")
    parser.add_argument("--train-epochs", type=int, default=2, help="epochs timed for training (0: skip)")
    parser.add_argument("--busy", action="store_true", help="also measure predict and training with one core busy")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    arguments = parser.parse_args(argv)
    spacy_work = None if arguments.no_spacy else arguments.spacy_dir
    if spacy_work is not None and importlib.util.find_spec("spacy") is None:
        print("spaCy is not installed (pip install -e '.[bench]'): measuring tagger alone", file=sys.stderr)
        spacy_work = None
    with tempfile.TemporaryDirectory() as work:
        try:
            report = measure(arguments.model, arguments.data, spacy_work, arguments.runs, arguments.repeat,
                             arguments.train_epochs, Path(work), arguments.busy)
        finally:
            gc.unfreeze()
    show(report)
    if arguments.markdown:
        print(markdown(report))
    if arguments.json:
        arguments.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
