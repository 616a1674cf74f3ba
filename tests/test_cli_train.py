"""`tagger train` from the command line: the run as it shows, training on train + dev, resuming,
and each way a run is refused before it starts: one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import invoke, refused_in_one_line, says


def test_train_reports_each_epoch_and_the_test_metrics_it_saves(trained):
    _, model, output = trained
    epochs = re.findall(r"^epoch (\d+): loss ([\d.]+), dev P/R/F1 ([\d.]+)/([\d.]+)/([\d.]+)( \*)?", output, re.M)
    assert [int(epoch[0]) for epoch in epochs] == [1, 2, 3]
    assert epochs[0][5] == " *"  # the first epoch is always the best so far
    assert {p.name for p in model.iterdir()} == {"config.json", "training.json", "vocab.json.gz", "weights.pt"}
    training = json.loads((model / "training.json").read_text())
    best = [epoch for epoch in epochs if epoch[5]][-1]
    assert training["best_epoch"] == int(best[0]) and f"{100 * training['dev']['f1']:.2f}" == best[4]
    rows = dict(re.findall(r"^│ (LOC|ORG|PER|overall) .*│\s+([\d.]+) │\s+[\d,]+ │$", output, re.M))
    assert set(rows) == {"LOC", "ORG", "PER", "overall"}
    assert rows["overall"] == f"{100 * training['test']['f1']:.2f}"
    assert f"Model saved to {model}/" in output


def test_train_with_dev_trains_as_the_dev_run_did_for_its_best_epoch_and_says_so(trained, tmp_path):
    corpus, model, _ = trained
    best = json.loads((model / "training.json").read_text())["best_epoch"]
    final = tmp_path / "final"
    as_the_dev_run = ["--embeddings", "none", "--hidden-size", "32", "--batch-size", "8", "--lr", "0.01",
                      "--decoder", "softmax", "--device", "cpu"]
    result = invoke("train", "--data", corpus, "--model", final, "--train-with-dev", "--epochs-from", model,
                    *as_the_dev_run, "--seed", "2")  # a final model of another seed is common practice
    assert result.exit_code == 0, result.output
    assert "Data: 100 train and dev sentences" in result.stdout and "Model: softmax decoder" in result.stdout
    assert re.findall(r"^epoch (\d+): loss [\d.]+, \d+s", result.stdout, re.M) == [str(e) for e in range(1, best + 1)]
    assert f"Trained for {best} epochs with no dev set to choose an epoch on" in result.stdout
    assert "Test set (last epoch's model)" in result.stdout
    summary = json.loads((final / "training.json").read_text())
    assert summary["best_epoch"] == best and summary["dev"] is None and summary["config"]["train_with_dev"]
    scored = invoke("eval", "--data", corpus, "--model", final, "--split", "dev", "--json")
    assert scored.exit_code == 0 and json.loads(scored.stdout)["trained_on"]
    assert scored.stderr.startswith(f"warning: {final} was trained on this dev split (--train-with-dev)")
    assert invoke("eval", "--data", corpus, "--model", model, "--split", "dev").stderr == ""
    for args, message in [
        (["--epochs-from", final, *as_the_dev_run], "its model was not chosen on a dev set"),
        (["--epochs-from", model, "--embeddings", "none", "--device", "cpu"],
         f"{model} was trained with --batch-size 8, --decoder softmax, --hidden-size 32, --lr 0.01: give the same"),
        (["--epochs", "2", "--patience", "1"], "patience (--patience) does not apply to train_with_dev (--train-with-dev)"),
        (["--epochs-from", model, *as_the_dev_run, "--patience", "1"], "patience (--patience) does not apply to train_with_dev (--train-with-dev)"),
    ]:
        refused = invoke("train", "--data", corpus, "--model", tmp_path / "again", "--train-with-dev", *args)
        assert refused.exit_code == 2 and message in refused.stderr, refused.output
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "{bad}", "--model", "{missing}", "--epochs", "1"], "bad.txt:2: one column, expected 2 like line 1"),
    (["train", "--data", "{one}", "--model", "{missing}"], "one.txt: one sentence to train on, too few to hold "
     "10% of them out as a dev set; give a dev set with --dev FILE"),
    (["train", "--data", "{corpus}", "--train", "{one}", "--model", "{missing}"], "--data and --train both given"),
    (["train", "--dev", "{one}", "--model", "{missing}"], "--dev given without --train"),
    (["train", "--model", "{model}", "--resume", "--overwrite"], "--resume and --overwrite both given"),
    (["train", "--train", "{no_entities}", "--dev", "{no_entities}", "--model", "{missing}"],
     "every tag of the train split is O, so there is nothing to learn"),
    (["train", "--data", "{corpus}", "--model", "{tmp}/new/config.json"],
     "config.json: the name of a model's file, not a model directory; --model takes the directory"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--device", "cpu", "--precision", "bf16"],
     "mixed precision is for CUDA GPUs"),
    (["train", "--model", "{model}", "--resume"], "holds a finished model, no run to resume"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--train-with-dev"],
     "train_with_dev (--train-with-dev) leaves no dev set to choose an epoch on: give epochs (--epochs)"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--epochs-from", "{model}"],
     "epochs_from (--epochs-from) is for train_with_dev (--train-with-dev)"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--train-with-dev", "--epochs-from", "{model}",
      "--epochs", "3"], "epochs (--epochs) and epochs_from (--epochs-from) both given"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--train-with-dev", "--epochs-from", "{corpus}/none"],
     "none: no such directory; --epochs-from takes the directory of a model trained with a dev set"),
    (["train", "--data", "{corpus}", "--model", "{model}", "--train-with-dev", "--epochs-from", "{model}",
      "--overwrite"], "the new model would replace the run it takes its epochs from"),
    (["train", "--model", "{model}", "--resume", "--train-with-dev", "--epochs-from", "{model}"],
     "epochs_from (--epochs-from) does not apply to resuming"),
])
def test_bad_train_input_gives_one_line_and_exit_2(trained, tmp_path, args, message):
    refused_in_one_line(trained, tmp_path, args, message)


def test_a_run_with_no_model_yet_says_how_to_continue_it(tmp_path):
    from tagger.model import artifact

    run = tmp_path / "my run"
    artifact.save_checkpoint(run, {"position": {}})  # stopped before its first epoch ended
    for command in (["predict"], ["eval", "--data", tmp_path / "nothing.txt"]):
        result = invoke(*command, "--model", run, input="Ada met Ivo.")
        assert result.exit_code == 2, result.output
        says(result, run, f"holds an unfinished run that has not saved a model yet; continue it with: tagger train "
                          f"--model '{run}' --resume")


def test_printed_commands_can_be_pasted_whatever_the_path(trained, tmp_path, monkeypatch):
    """A path with a space or brackets comes out quoted, so the printed command runs as it is."""
    import shlex

    from tagger.train.records import Stopped

    corpus, _, _ = trained
    model = tmp_path / "my [best] run"
    result = invoke("train", "--data", corpus, "--model", model, "--epochs", "1", "--embeddings", "none",
                    "--hidden-size", "8", "--device", "cpu")
    assert result.exit_code == 0, result.output
    command = re.search(r"tag text with: (.*) < file.txt$", result.stdout, re.MULTILINE).group(1)
    assert shlex.split(command) == ["tagger", "predict", "--model", str(model)]
    assert invoke(*shlex.split(command)[1:], input="Ada met Ivo.").exit_code == 0
    missing = tmp_path / "no such model"
    assert f"train one with `tagger train --model '{missing}'`" in invoke("predict", "--model", missing).stderr

    monkeypatch.setattr("tagger.cli.render.show_training", lambda records, console: Stopped(
        epoch=2, step=5, resumable=True, best_model_saved=True))  # as if interrupted mid-run
    result = invoke("train", "--data", corpus, "--model", model, "--device", "cpu")
    assert result.exit_code == 130
    command = re.fullmatch(r"interrupted; its best model so far is kept there; continue with: (.*)\n",
                           result.stderr).group(1)
    assert shlex.split(command) == ["tagger", "train", "--model", str(model), "--resume"]
    monkeypatch.setattr("tagger.cli.render.show_training", lambda records, console: Stopped(
        epoch=2, step=5, resumable=True, best_model_saved=True, dev_trained=True))
    result = invoke("train", "--data", corpus, "--model", model, "--device", "cpu")
    assert result.stderr.startswith("interrupted; its last epoch's model is kept there; continue with: ")


def test_train_on_a_file_per_split(tmp_path):
    from conftest import make_sentences, write_conll

    for name, count, seed in (("a.conll", 40, 1), ("b.conll", 10, 2), ("c.conll", 10, 3)):
        write_conll(tmp_path / name, make_sentences(count, seed), columns=2)
    result = invoke("train", "--train", tmp_path / "a.conll", "--dev", tmp_path / "b.conll", "--test",
                    tmp_path / "c.conll", "--model", tmp_path / "model", "--epochs", "1", "--embeddings", "none",
                    "--hidden-size", "8")
    assert result.exit_code == 0, result.output
    assert re.search(r"Data: 40 train sentences \(.* tokens\), 10 dev, 10 test;", result.output)
    training = json.loads((tmp_path / "model" / "training.json").read_text())
    assert training["data"] == {"train": str(tmp_path / "a.conll"), "dev": str(tmp_path / "b.conll"),
                                "test": str(tmp_path / "c.conll")} and "test" in training


def test_train_into_a_read_only_directory_stops_before_reading_data_in_a_real_process(trained, tmp_path,
                                                                                      make_unwritable):
    corpus, _, _ = trained
    (tmp_path / "ro").mkdir()
    model = make_unwritable(tmp_path / "ro") / "m"
    result = subprocess.run([sys.executable, "-m", "tagger", "train", "--data", str(corpus), "--model", str(model),
                             "--epochs", "1", "--embeddings", "none", "--device", "cpu"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {model}: cannot create it in {tmp_path / 'ro'} (")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""  # no data read, no epoch run


def test_a_read_only_model_directory_is_refused_before_training(trained, tmp_path, make_unwritable):
    from tagger.model import artifact

    corpus, model, _ = trained
    read_only = tmp_path / "model"
    shutil.copytree(model, read_only)
    artifact.save_checkpoint(read_only, {"position": {}})
    before = {path.name: path.read_bytes() for path in read_only.iterdir()}
    make_unwritable(read_only)
    result = invoke("train", "--data", corpus, "--model", read_only, "--overwrite", "--epochs", "1",
                    "--embeddings", "none", "--device", "cpu")
    assert result.exit_code == 2, result.output
    says(result, read_only, "cannot write in it, where the run keeps its checkpoints")
    assert result.stdout == ""
    assert {path.name: path.read_bytes() for path in read_only.iterdir()} == before


def test_resuming_in_a_directory_that_became_read_only_stops_before_training(tmp_path, monkeypatch,
                                                                              make_unwritable):
    from test_artifact import FORMAT_1

    shutil.copytree(FORMAT_1, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)  # the run's data and vectors are relative paths
    make_unwritable(tmp_path / "run")
    result = invoke("train", "--model", "run", "--resume", "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: run: cannot write in it, where the run keeps its checkpoints (")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


def test_train_without_data_says_how_to_get_it_in_a_real_process(tmp_path):
    """The default data, with no local copy and no Hub: exit 2, one line, no traceback. tagger is
    installed outside a clone (a copy of the package on PYTHONPATH), so no clone's data/ is found."""

    shutil.copytree(Path(__file__).parent.parent / "tagger", tmp_path / "installed" / "tagger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": str(tmp_path / "installed")}
    result = subprocess.run([sys.executable, "-m", "tagger", "train", "--model", str(tmp_path / "m")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "lhoestq/conll2003" in result.stderr and "data/conll2003/" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_resume_refuses_options_unlike_the_run_s_and_takes_the_same_ones(tmp_path, monkeypatch):
    from test_artifact import FORMAT_1

    from tagger.train.rundir import RunDirectory
    from tagger.train.settings import refuse_settings_unlike_the_run

    shutil.copytree(FORMAT_1, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)  # the run's data and vectors are relative paths
    checkpoint = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    result = invoke("train", "--model", "run", "--resume", "--data", "corpus", "--epochs", "9", "--seed", "1")
    assert result.exit_code == 2 and result.stdout == ""
    says(result, "run", "the run started with --epochs 6; resume continues it with its own settings")
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == checkpoint
    config, source = RunDirectory.reopen(tmp_path / "run").started_with()
    refuse_settings_unlike_the_run(tmp_path / "run", config, source, {"data": "corpus", "embeddings": "vectors.txt",
                                                                       "epochs": 6, "seed": 1, "lr": 0.01})


def test_train_warns_of_entity_types_only_dev_or_test_have_and_eval_of_gold_without_entities(trained, tmp_path):
    from conftest import make_sentences, write_conll

    write_conll(tmp_path / "a.conll", make_sentences(20, 1), columns=2)
    (tmp_path / "b.conll").write_text("Velden B-FAC\nopened O\n\n", encoding="utf-8")
    result = invoke("train", "--train", tmp_path / "a.conll", "--dev", tmp_path / "b.conll", "--model",
                    tmp_path / "model", "--epochs", "1", "--embeddings", "none", "--hidden-size", "8")
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: dev or test has entity types train has none of: FAC; the model can only miss them\n"
    _, model, _ = trained
    (tmp_path / "plain.conll").write_text("the O\nend O\n\n", encoding="utf-8")
    result = invoke("eval", "--model", model, "--data", tmp_path / "plain.conll", "--json")
    assert result.exit_code == 0
    assert result.stderr == f"warning: {tmp_path / 'plain.conll'}: the gold tags hold no entities, so every figure is 0\n"


def test_train_errors_name_the_data_as_the_user_gave_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.txt").write_text("Ada B-PER\nBrandt\n\n", encoding="utf-8")
    result = invoke("train", "--data", "bad.txt", "--model", "m")
    assert result.exit_code == 2 and result.stderr.startswith("error: bad.txt:2: one column")


def test_the_summary_of_a_resumed_run_says_when_its_best_epoch_came_before_the_resume():
    from rich.console import Console

    from tagger.cli.render import show_training
    from tagger.train.records import Finished, Started
    from tagger.use.metrics import Metrics

    dev = Metrics(0.9, 0.9, 0.9, 0.9, 10, {})
    started = Started(10, 50, 2, False, 0, ["O", "B-PER"], 20, None, 100, "cpu", 1, resumed_at=(3, 0))
    for best_epoch, where in [(1, "(before this resume)"), (3, "(* above)")]:
        console = Console(record=True, width=200)
        show_training([started, Finished(best_epoch, dev, None, stopped_early=True, seconds=60.0)], console)
        assert f"Best dev F1 90.00 at epoch {best_epoch} {where}; stopped early" in console.export_text()
