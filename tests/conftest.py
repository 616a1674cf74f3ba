"""Small CoNLL samples written for these tests (template sentences over invented names), and
what every test shares: a datasets cache of the suite's own, and waits with deadlines."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app

# Reading a CoNLL file leaves datasets' Arrow files in its cache, and torch makes a cache
# directory in /tmp when it first trains: the suite, and the commands it starts, keep theirs
# in a directory of their own, removed at the end. Set before anything imports datasets,
# which reads it once.
CACHE = tempfile.mkdtemp(prefix="tagger-tests-")
os.environ["HF_DATASETS_CACHE"] = CACHE
os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(CACHE, "torch")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(CACHE, ignore_errors=True)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120,
               process: subprocess.Popen | None = None) -> None:
    """Poll `condition`; fail after `timeout` seconds, or at once if `process` has exited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

PEOPLE = [["Ada", "Brandt"], ["Tomas", "Wey"], ["Lina", "Okoro"], ["Piet"], ["Mara", "Quist"], ["Ivo", "Lund"]]
PLACES = [["Velden"], ["Port", "Arlo"], ["Kessy"], ["New", "Tarrow"], ["Ombra"]]
GROUPS = [["Norvik", "Bank"], ["Tellan", "Motors"], ["Arlo", "United"], ["Corva"]]
TEMPLATES = [
    "{PER} met {PER} in {LOC} on Monday .",
    "{ORG} said {PER} will visit {LOC} next week .",
    "Shares in {ORG} rose 3.5 percent in {LOC} .",
    "{PER} , who works for {ORG} , was born in {LOC} .",
    "The talks in {LOC} ended without a deal .",
]


def tagged_sentence(template: str, pick: random.Random) -> list[tuple[str, str]]:
    """Fill a template; entity tokens get IOB2 tags."""
    pairs = []
    for word in template.split():
        if word.startswith("{"):
            kind = word[1:-1]
            name = pick.choice({"PER": PEOPLE, "LOC": PLACES, "ORG": GROUPS}[kind])
            pairs += [(token, ("B-" if i == 0 else "I-") + kind) for i, token in enumerate(name)]
        else:
            pairs.append((word, "O"))
    return pairs


def make_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    pick = random.Random(seed)
    templates = itertools.cycle(TEMPLATES)
    return [tagged_sentence(next(templates), pick) for _ in range(count)]


def write_conll(path: Path, sentences: list[list[tuple[str, str]]], columns: int = 4, separator: str = " ",
                docstart: bool = False) -> Path:
    """Write sentences with filler POS/chunk columns between token and tag."""
    lines = [separator.join(["-DOCSTART-"] + ["-X-"] * (columns - 2) + ["O"]), ""] if docstart else []
    for sentence in sentences:
        for token, tag in sentence:
            lines.append(separator.join([token] + ["X"] * (columns - 2) + [tag]))
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_corpus(directory: Path, train: int, dev: int, test: int = 0) -> Path:
    """A CoNLL directory of generated sentences: train.txt, valid.txt and (with `test`) test.txt."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, count, seed in (("train.txt", train, 1), ("valid.txt", dev, 2), ("test.txt", test, 3)):
        if count:
            write_conll(directory / name, make_sentences(count, seed=seed))
    return directory


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A CoNLL directory with train / valid / test files."""
    directory = tmp_path / "corpus"
    directory.mkdir()
    write_conll(directory / "train.txt", make_sentences(60, seed=1), docstart=True)
    write_conll(directory / "valid.txt", make_sentences(15, seed=2))
    write_conll(directory / "test.txt", make_sentences(15, seed=3))
    return directory


def train_small(root: Path, decoder: str) -> tuple[Path, Path, str]:
    """Train a tiny model through the CLI on a written sample: (corpus, model, output)."""
    from typer.testing import CliRunner

    from tagger.cli import app

    corpus = root / "corpus"
    corpus.mkdir()
    write_conll(corpus / "train.txt", make_sentences(80, seed=1), docstart=True)
    write_conll(corpus / "valid.txt", make_sentences(20, seed=2))
    write_conll(corpus / "test.txt", make_sentences(20, seed=3))
    model = root / "model"
    result = CliRunner().invoke(app, ["train", "--data", str(corpus), "--model", str(model), "--epochs", "3",
                                      "--embeddings", "none", "--hidden-size", "32", "--batch-size", "8",
                                      "--lr", "0.01", "--device", "cpu", "--decoder", decoder])
    assert result.exit_code == 0, result.output
    return corpus, model, result.output


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, Path, str]:
    """A tiny softmax model trained through the CLI on the written sample, shared by the tests
    that only read it: (corpus, model, output)."""
    return train_small(tmp_path_factory.mktemp("cli"), "softmax")


@pytest.fixture(scope="session")
def trained_crf(tmp_path_factory) -> tuple[Path, Path, str]:
    """As `trained`, with the CRF decoder."""
    return train_small(tmp_path_factory.mktemp("cli-crf"), "crf")


@pytest.fixture(scope="session")
def small_model(trained) -> Path:
    return trained[1]


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory) -> Path:
    """A BERT of random weights saved as Hugging Face saves one, small enough to train with in
    seconds: four layers of 16 units, a vocabulary of letters as word pieces, and room for 24
    positions, so that a sentence of the samples is read in several windows."""
    transformers = pytest.importorskip("transformers")
    import string

    import torch

    folder = tmp_path_factory.mktemp("tiny-bert")
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.digits, *".,;:'()-",
              *(f"##{letter}" for letter in string.ascii_lowercase + string.digits), "the", "in", "on", "met"]
    transformers.BertTokenizer(vocab={piece: number for number, piece in enumerate(pieces)}).save_pretrained(folder)
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(
        vocab_size=len(pieces), hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=24)).save_pretrained(folder)
    return folder


runner = CliRunner()
TEXT = "Ada Brandt met Tomas Wey in Velden on Monday.\r\n\r\nNorvik Bank said Lina Okoro will visit Port Arlo.\n"


def invoke(*args: str, input: str | None = None):
    """The command line, in process, with these arguments (paths may be given as they are)."""
    return runner.invoke(app, list(map(str, args)), input=input)


def refused_in_one_line(trained, tmp_path: Path, args: list[str], message: str) -> None:
    """`args`, their {placeholders} filled in, give exit 2 and one line of error saying `message`,
    before anything is written."""
    corpus, model, _ = trained
    bad = write_text(tmp_path / "bad.txt", "Ada B-PER\nBrandt\n\n")
    one = write_text(tmp_path / "one.txt", "Ada B-PER\nmet O\nIvo B-PER\n\n")
    no_entities = write_text(tmp_path / "no-entities.txt", "the O\nend O\n\n")
    values = {"missing": tmp_path / "none", "corpus": corpus, "model": model, "bad": bad, "one": one, "tmp": tmp_path,
              "no_entities": no_entities}
    result = invoke(*[argument.format(**values) for argument in args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert not (tmp_path / "none").exists()  # nothing written for a run that could not start


def says(result, path: Path | str, phrase: str) -> None:
    """An error as the user reads it: exit 2, one line on stderr naming `path` first and saying
    `phrase`, whatever the rest of its words."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}: ") and phrase in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def make_unwritable():
    """Make directories unwritable, for root too: mode 0o555 and, where the mode does not stop
    the user (root), the immutable attribute (chattr +i). Undone at teardown, whatever the test
    did; the test is skipped if neither works here."""
    undo = []

    def make(directory: Path) -> Path:
        mode = directory.stat().st_mode
        directory.chmod(0o555)
        undo.append(lambda: directory.chmod(mode))
        if os.access(directory, os.W_OK):
            chattr = shutil.which("chattr")
            if chattr is None or subprocess.run([chattr, "+i", str(directory)], check=False,
                                                capture_output=True).returncode:
                pytest.skip("cannot make a directory unwritable here (root, and chattr +i fails)")
            undo.append(lambda: subprocess.run([chattr, "-i", str(directory)], check=True))
        return directory

    yield make
    for step in reversed(undo):
        step()
