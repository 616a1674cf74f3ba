"""Training that loses nothing: a run killed (SIGKILL) or interrupted (Ctrl-C) and then resumed
ends with the same weights and dev F1 as a run that was never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import wait_until

OPTIONS = ["--embeddings", "none", "--hidden-size", "32", "--batch-size", "8", "--epochs", "3", "--device", "cpu"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads in every run: the same float sums


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import write_corpus

    return write_corpus(tmp_path_factory.mktemp("resume") / "corpus", train=1500, dev=30)


def train(corpus, model, *extra):
    return subprocess.Popen([sys.executable, "-m", "tagger", "train", "--data", str(corpus), "--model", str(model),
                             *OPTIONS, *extra], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def finish(process):
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr


def checkpoint_position(model, process):
    """Where the run's first checkpoint says it stands, once there is one."""
    path = model / "checkpoint.pt"
    wait_until(path.exists, "the first checkpoint", process=process)
    return torch.load(path, weights_only=True)["position"]


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory):
    model = tmp_path_factory.mktemp("clean") / "model"
    finish(train(corpus, model))
    return model


def assert_same_run(model, reference):
    assert not (model / "checkpoint.pt").exists()  # a finished run leaves only the model
    weights = torch.load(model / "weights.pt", weights_only=True)
    expected = torch.load(reference / "weights.pt", weights_only=True)
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[name], expected[name]) for name in weights)
    config, expected_config = (json.loads((m / "training.json").read_text()) for m in (model, reference))
    assert config["dev"] == expected_config["dev"] and config["best_epoch"] == expected_config["best_epoch"]


def test_killed_mid_epoch_and_resumed_ends_like_an_uninterrupted_run(corpus, uninterrupted, tmp_path):
    model = tmp_path / "model"
    process = train(corpus, model)
    # Epoch 1 is saved and epoch 2 under way: killed now, the run loses what it did since.
    assert checkpoint_position(model, process)["epoch"] == 2
    process.kill()
    process.wait()
    assert (model / "checkpoint.pt").exists() and (model / "weights.pt").exists()
    finish(train(corpus, model, "--resume"))
    assert_same_run(model, uninterrupted)


def test_ctrl_c_saves_the_step_says_how_to_resume_and_exits_130(corpus, uninterrupted, tmp_path):
    model = tmp_path / "model"
    process = train(corpus, model)
    checkpoint_position(model, process)  # epoch 2 under way: Ctrl-C keeps the step it is on
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr.count("\n") == 1 and stderr.startswith("interrupted; its best model so far is kept there; ")
    assert stderr.endswith(f"continue with: tagger train --model {model} --resume\n")
    assert (model / "weights.pt").exists()  # the best model so far is kept
    finish(train(corpus, model, "--resume"))
    assert_same_run(model, uninterrupted)
