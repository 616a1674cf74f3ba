"""On a CUDA GPU: training in each precision, and models moving between the GPU and the CPU.
Skipped without one (CI has none); the CPU path is tested everywhere else."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

OPTIONS = ["--embeddings", "none", "--hidden-size", "32", "--batch-size", "8", "--lr", "0.01", "--epochs", "3"]
TEXT = "Ada Brandt met Ivo Lund in Port Arlo on Monday .\nShares in Norvik Bank rose 3.5 percent in Velden .\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import write_corpus

    return write_corpus(tmp_path_factory.mktemp("gpu") / "corpus", train=400, dev=40)


def tagger(*args: str, **run) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "tagger", *args], capture_output=True, text=True, timeout=600,
                            **run)
    assert result.returncode == 0, result.stderr
    return result


def train(corpus, model, *extra) -> dict:
    tagger("train", "--data", str(corpus), "--model", str(model), *OPTIONS, *extra)
    return json.loads((model / "training.json").read_text())


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_trains_on_the_gpu_in_each_precision(corpus, tmp_path, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    summary = train(corpus, tmp_path / "model", "--device", "cuda", "--precision", precision)
    assert summary["runtime"]["device"].startswith("cuda") and summary["runtime"]["precision"] == precision
    assert summary["dev"]["f1"] > 0.9


@pytest.mark.parametrize("trained_on, tagged_on", [("cuda", "cpu"), ("cpu", "cuda")])
def test_a_model_moves_between_gpu_and_cpu(corpus, tmp_path, trained_on, tagged_on):
    model = tmp_path / "model"
    train(corpus, model, "--device", trained_on)
    where = [tagger("predict", "--model", str(model), "--device", device, "--tokenized", input=TEXT).stdout
             for device in (trained_on, tagged_on)]
    assert where[0] == where[1] and "B-PER" in where[0]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_processes_train_with_nccl(corpus, tmp_path):
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             "-m", "tagger", "train", "--data", str(corpus), "--model", str(tmp_path / "model"),
                             *OPTIONS, "--device", "cuda"], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "model" / "training.json").read_text())
    assert summary["runtime"]["processes"] == 2 and summary["dev"]["f1"] > 0.9
