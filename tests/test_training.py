"""A training run in process, on a tiny corpus: its records in order, patience, each best model
saved, the checkpoint gone at the end, and a run stopped on request that resumes exactly."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace

import pytest
import torch

from tagger.core.config import ModelConfig, Runtime, TrainConfig
from tagger.core.errors import TaggerError
from tagger.model import artifact, modeldir
from tagger.train.records import Epoch, Finished, Started, Step, Stopped
from tagger.train.run import resume, train

CONFIG = TrainConfig(ModelConfig(hidden_size=8, char_dim=8, char_filters=8), embeddings="none", epochs=4,
                     batch_size=8, lr=0.01)
ON_DEV = replace(CONFIG, train_with_dev=True, patience=None)  # no dev F1 to wait for
CPU = Runtime(device="cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import write_corpus

    return str(write_corpus(tmp_path_factory.mktemp("training") / "corpus", train=60, dev=12, test=12))


def weights(model_dir) -> dict[str, torch.Tensor]:
    return modeldir.load_model(model_dir).model.state_dict()


def test_records_come_in_order_and_each_best_model_is_saved_as_its_epoch_ends(corpus, tmp_path):
    model_dir = tmp_path / "model"
    records, saved_at_best = [], {}
    for record in train(CONFIG, corpus, model_dir, CPU):
        records.append(record)
        if isinstance(record, Epoch):
            assert modeldir.has_checkpoint(model_dir)
            summary = json.loads((model_dir / "training.json").read_text())
            best = [r for r in records if isinstance(r, Epoch) and r.is_best][-1]
            assert summary["best_epoch"] == best.epoch and summary["dev"] == best.dev.to_dict()
            if record.is_best:
                saved_at_best[record.epoch] = weights(model_dir)
    started, *middle, finished = records
    assert isinstance(started, Started) and isinstance(finished, Finished)
    assert started.train_sentences == 60 and started.dev_sentences == 12 and started.test_sentences == 12
    steps_per_epoch = -(-60 // CONFIG.batch_size)
    expected = [(epoch, step) for epoch in range(1, 5) for step in [*range(1, steps_per_epoch + 1), None]]
    assert [(r.epoch, r.step if isinstance(r, Step) else None) for r in middle] == expected
    epochs = [r for r in middle if isinstance(r, Epoch)]
    best = max(epochs, key=lambda e: (e.dev.f1, -e.epoch))  # the first epoch with the highest dev F1
    assert [e.epoch for e in epochs if e.is_best][-1] == finished.best_epoch == best.epoch
    assert finished.dev == best.dev and finished.test is not None and not finished.stopped_early
    final = weights(model_dir)
    assert all(torch.equal(final[name], tensor) for name, tensor in saved_at_best[best.epoch].items())
    assert not modeldir.has_checkpoint(model_dir)
    assert json.loads((model_dir / "training.json").read_text())["test"] == finished.test.to_dict()


def test_patience_stops_a_run_that_no_longer_improves(corpus, tmp_path):
    frozen = TrainConfig(CONFIG.model, embeddings="none", epochs=10, patience=2, lr=1e-12)  # dev F1 never moves
    records = list(train(frozen, corpus, tmp_path / "model", CPU))
    assert [(r.epoch, r.is_best) for r in records if isinstance(r, Epoch)] == [(1, True), (2, False), (3, False)]
    assert records[-1].stopped_early and records[-1].best_epoch == 1


def test_a_run_stopped_on_request_keeps_its_place_and_resumes_to_the_same_model(corpus, tmp_path):
    one_thread = Runtime(device="cpu", threads=1)  # the same float sums in both runs
    reference = tmp_path / "reference"
    list(train(CONFIG, corpus, reference, one_thread))
    model_dir, stop = tmp_path / "model", threading.Event()
    run = train(CONFIG, corpus, model_dir, one_thread, stop=stop)
    for record in run:
        if isinstance(record, Step) and (record.epoch, record.step) == (2, 3):
            stop.set()
            break
    assert next(run) == Stopped(epoch=2, step=3, resumable=True, best_model_saved=True)
    assert next(run, None) is None
    position = artifact.load_checkpoint(model_dir)["position"]
    assert (position["epoch"], position["step"]) == (2, 3)
    records = list(resume(model_dir, one_thread))
    assert records[0].resumed_at == (2, 3) and isinstance(records[-1], Finished)
    expected, final = weights(reference), weights(model_dir)
    assert all(torch.equal(final[name], tensor) for name, tensor in expected.items())


def test_a_run_on_train_and_dev_stopped_says_the_model_kept_is_its_last_epoch_s(corpus, tmp_path):
    stop = threading.Event()
    run = train(replace(ON_DEV, epochs=3), corpus, tmp_path / "model", CPU, stop=stop)
    for record in run:
        if isinstance(record, Step) and record.epoch == 2:
            stop.set()
    assert record == Stopped(epoch=2, step=1, resumable=True, best_model_saved=True, dev_trained=True)


def test_a_run_stopped_before_its_first_step_leaves_nothing(corpus, tmp_path):
    stop = threading.Event()
    stop.set()
    records = list(train(CONFIG, corpus, tmp_path / "model", CPU, stop=stop))
    assert isinstance(records[0], Started)
    assert records[1:] == [Stopped(epoch=1, step=0, resumable=False, best_model_saved=False)]
    assert not (tmp_path / "model").exists()


def test_a_caller_that_stops_reading_mid_epoch_leaves_a_checkpoint(corpus, tmp_path):
    run = train(CONFIG, corpus, tmp_path / "model", CPU)
    for record in run:
        if isinstance(record, Step) and record.step == 2:
            break
    run.close()
    position = artifact.load_checkpoint(tmp_path / "model")["position"]
    assert (position["epoch"], position["step"]) == (1, 2)


def test_a_run_with_relative_paths_resumes_from_any_directory(corpus, tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    shutil.copytree(corpus, work / "corpus")
    (work / "vectors.txt").write_text("ada 0.1 0.2\nmet 0.3 0.4\n", encoding="utf-8")
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    run = train(replace(CONFIG, embeddings="vectors.txt"), "corpus", tmp_path / "model", CPU)
    for record in run:
        if isinstance(record, Step):
            break
    run.close()
    monkeypatch.chdir(elsewhere)
    assert isinstance(list(resume(tmp_path / "model", CPU))[-1], Finished)
    summary = json.loads((tmp_path / "model" / "training.json").read_text())
    assert summary["data"] == {"data": str(work / "corpus")} and summary["config"]["embeddings"] == str(work / "vectors.txt")


def test_resuming_on_data_whose_words_changed_says_so(corpus, tmp_path):
    from tagger.core.errors import DataError

    shutil.copytree(corpus, tmp_path / "corpus")
    run = train(CONFIG, str(tmp_path / "corpus"), tmp_path / "model", CPU)
    for record in run:
        if isinstance(record, Step):
            break
    run.close()
    with (tmp_path / "corpus" / "train.txt").open("a", encoding="utf-8") as file:
        file.write("Quorvath X X B-PER\nzindled X X O\n\n")
    with pytest.raises(DataError, match="the data changed since the run started .its words or tags differ"):
        list(resume(tmp_path / "model", CPU))


def test_training_on_train_and_dev_keeps_the_last_epoch_and_scores_it_on_test(corpus, tmp_path):
    model_dir = tmp_path / "model"
    records = list(train(replace(ON_DEV, epochs=3), corpus, model_dir, CPU))
    started, finished = records[0], records[-1]
    assert started.dev_trained and started.train_sentences == 60 + 12
    epochs = [record for record in records if isinstance(record, Epoch)]
    assert [(e.epoch, e.dev, e.is_best) for e in epochs] == [(1, None, True), (2, None, True), (3, None, True)]
    assert finished.best_epoch == 3 and finished.dev is None and finished.test is not None
    summary = json.loads((model_dir / "training.json").read_text())
    assert summary["dev"] is None and summary["best_epoch"] == 3 and summary["config"]["train_with_dev"]
    assert summary["test"] == finished.test.to_dict()


def test_training_on_train_and_dev_takes_the_tags_of_both_or_all_of_train_when_there_is_no_dev(tmp_path):
    from conftest import write_conll, write_corpus

    from tagger.core.errors import DataError

    corpus = write_corpus(tmp_path / "corpus", train=40, dev=0)
    records = list(train(replace(ON_DEV, epochs=1), str(corpus), tmp_path / "all", CPU))
    assert records[0].train_sentences == 40 and records[0].dev_sentences == 0  # nothing held out
    write_conll(corpus / "valid.txt", [[("Quorvath", "B-EVT"), ("fair", "I-EVT"), ("opened", "O")]])
    records = list(train(replace(ON_DEV, epochs=1), str(corpus), tmp_path / "both", CPU))
    assert records[0].train_sentences == 41 and not records[0].untrained_types
    assert {"B-EVT", "I-EVT", "B-PER"} <= set(modeldir.load_model(tmp_path / "both").encoder.tags.items)
    write_conll(corpus / "valid.txt", [[("Quorvath", "S-PER"), ("opened", "O")]])
    with pytest.raises(DataError, match="train and dev are tagged in different schemes"):
        list(train(replace(ON_DEV, epochs=1), str(corpus), tmp_path / "schemes", CPU))


def test_epochs_are_not_taken_from_an_unfinished_run(corpus, tmp_path):
    from tagger.core.errors import ArtifactError
    from tagger.train.settings import with_epochs_from

    run = train(CONFIG, corpus, tmp_path / "dev-run", CPU)
    for record in run:
        if isinstance(record, Step) and record.epoch == 2:
            break
    run.close()  # epoch 1's model is saved, the run is not finished
    with pytest.raises(ArtifactError, match="its run is unfinished, so its best epoch may not be its last word"):
        with_epochs_from(replace(ON_DEV, epochs=None, epochs_from=str(tmp_path / "dev-run")), tmp_path / "final")


# Each rule about settings, as Python and as the command line give it, and the words both answer with.
RULES = [
    (dict(batch_size=0), ["--batch-size", "0"], "TrainConfig.batch_size = 0 (--batch-size): give a whole number"),
    (dict(epochs=0), ["--epochs", "0"], "TrainConfig.epochs = 0 (--epochs): give a whole number, 1 or more"),
    (dict(lr=-1.0), ["--lr", "-1"], "TrainConfig.lr = -1.0 (--lr): give a learning rate above 0"),
    (dict(lr_decay=0.0), ["--lr-decay", "0"], "TrainConfig.lr_decay = 0.0 (--lr-decay): give a factor above 0"),
    (dict(model=dict(dropout=1.0)), ["--dropout", "1"], "ModelConfig.dropout = 1.0 (--dropout): give a share from 0"),
    (dict(model=dict(hidden_size=0)), ["--hidden-size", "0"], "ModelConfig.hidden_size = 0 (--hidden-size): give a"),
    (dict(train_with_dev=True, epochs=2, patience=3), ["--train-with-dev", "--epochs", "2", "--patience", "3"],
     "TrainConfig: patience (--patience) does not apply to train_with_dev (--train-with-dev)"),
    (dict(train_with_dev=True), ["--train-with-dev"],
     "TrainConfig: train_with_dev (--train-with-dev) leaves no dev set to choose an epoch on: give epochs (--epochs)"),
    (dict(train_with_dev=True, epochs=2, epochs_from="dev-run"),
     ["--train-with-dev", "--epochs", "2", "--epochs-from", "dev-run"],
     "TrainConfig: epochs (--epochs) and epochs_from (--epochs-from) both given"),
    (dict(epochs_from="dev-run"), ["--epochs-from", "dev-run"],
     "TrainConfig: epochs_from (--epochs-from) is for train_with_dev (--train-with-dev)"),
    (dict(seed=-1), ["--seed", "-1"], "TrainConfig.seed = -1 (--seed): give a whole number from 0"),
    (dict(lr=float("inf")), ["--lr", "inf"], "TrainConfig.lr = inf (--lr): give a learning rate above 0"),
    (dict(embeddings="no-such.vec"), ["--embeddings", "no-such.vec"], "no-such.vec: no such file; --embeddings takes"),
    (dict(runtime=dict(device="cpu", precision="bf16")), ["--device", "cpu", "--precision", "bf16"],
     "Runtime.precision = 'bf16' (--precision): mixed precision is for CUDA GPUs"),
    (dict(runtime=dict(threads=0)), ["--threads", "0"], "threads (--threads) = 0: give a whole number, 1 or more"),
    (dict(runtime=dict(device="mps")), ["--device", "mps"], "Runtime.device = 'mps' (--device): use auto, cpu, cuda"),
]
if not torch.cuda.is_available():  # `auto` finds the CPU: refused once it has
    RULES.append((dict(runtime=dict(precision="fp16")), ["--precision", "fp16"],
                  "Runtime.precision = 'fp16' (--precision): mixed precision is for CUDA GPUs"))


@pytest.mark.parametrize("settings, options, message", RULES, ids=[message for *_, message in RULES])
def test_a_bad_setting_is_refused_from_python_before_any_data_is_read(tmp_path, settings, options, message):
    settings = dict(settings)
    runtime = settings.pop("runtime", {})
    with pytest.raises(TaggerError) as refused:
        if "model" in settings:
            settings["model"] = ModelConfig(**settings["model"])
        list(train(TrainConfig(**settings), tmp_path / "no-such-data", tmp_path / "model", Runtime(**runtime)))
    assert message in str(refused.value)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("settings, options, message", RULES, ids=[message for *_, message in RULES])
def test_a_bad_setting_is_the_same_one_line_and_exit_2_from_the_command_line(tmp_path, settings, options, message):
    from typer.testing import CliRunner

    from tagger.cli import app

    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "no-such-data"), "--model",
                                      str(tmp_path / "model"), *options])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "model").exists()


class InMemory:
    """Training sentences held in lists: what the loop reads, with no files and no datasets."""

    def __init__(self, sentences):
        self.tokens = [[token for token, _ in sentence] for sentence in sentences]
        self.tags = [[tag for _, tag in sentence] for sentence in sentences]
        self.lengths = [len(tokens) for tokens in self.tokens]

    def take(self, indices):
        return [self.tokens[i] for i in indices], [self.tags[i] for i in indices]


@pytest.mark.parametrize("lr, patience", [(0.01, 5), (1e-12, 2)], ids=["learning", "out of patience"])
def test_the_loop_alone_on_sentences_in_memory(lr, patience):
    """fit() on its own: a step record per batch, an epoch record after each epoch with dev
    scored, the model holding the epoch's weights while its record is read, and patience."""
    from conftest import make_sentences

    from tagger.train.distributed import World
    from tagger.train.loop import TrainingState, fit
    from tagger.train.run import build_model

    train_sentences, dev = InMemory(make_sentences(24, seed=1)), InMemory(make_sentences(8, seed=2))
    config = replace(CONFIG, lr=lr, patience=patience, epochs=4)
    tag_names = sorted({tag for tags in train_sentences.tags for tag in tags})
    torch.manual_seed(config.seed)
    model, encoder, _ = build_model(config, train_sentences.tokens, tag_names)
    state = TrainingState.start(model, config, CPU, World())
    records, best_weights = [], None
    for record in fit(state, encoder, train_sentences, (dev.tokens, dev.tags), config, CPU, torch.device("cpu")):
        records.append(record)
        if isinstance(record, Epoch) and record.is_best:
            best_weights = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    epochs = [record for record in records if isinstance(record, Epoch)]
    steps_per_epoch = -(-24 // config.batch_size)
    assert [type(record).__name__ for record in records] == (["Step"] * steps_per_epoch + ["Epoch"]) * len(epochs)
    assert all(record.dev is not None and 0 <= record.dev.f1 <= 1 for record in epochs)
    if lr == 1e-12:  # dev F1 never moves: the first epoch stays the best, and patience ends the run
        assert [(record.epoch, record.is_best) for record in epochs] == [(1, True), (2, False), (3, False)]
    else:
        assert len(epochs) == 4 and epochs[-1].loss < 0.8 * epochs[0].loss  # it learns
    assert state.position.best_epoch == [record.epoch for record in epochs if record.is_best][-1]
    assert best_weights is not None and state.position.epoch == len(epochs) + 1


def test_a_resumed_run_reads_its_checkpoint_once(corpus, tmp_path, monkeypatch):
    """From the command line, where the options given are held against the run's own before it
    resumes: the checkpoint is still read once."""
    from typer.testing import CliRunner

    from tagger.cli import app

    run = train(CONFIG, corpus, tmp_path / "model", CPU)
    for record in run:
        if isinstance(record, Step) and record.step == 2:
            break
    run.close()
    reads, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda file, *args, **kwargs: reads.append(str(file)) or load(file, *args,
                                                                                                     **kwargs))
    result = CliRunner().invoke(app, ["train", "--model", str(tmp_path / "model"), "--resume", "--data", corpus,
                                      "--epochs", "4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert [read for read in reads if read.endswith("checkpoint.pt")] == [str(tmp_path / "model" / "checkpoint.pt")]
