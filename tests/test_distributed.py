"""Training in two processes with gloo on the CPU, started as torchrun starts them: one model
directory, the model one process trains, and a run that outlives a lost process."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import free_port, wait_until

from tagger.model.encoding import length_bucketed_batches

OPTIONS = ["--embeddings", "none", "--hidden-size", "32", "--batch-size", "8", "--lr", "0.01", "--device", "cpu"]
# Without dropout the only difference between one process and two is the order of float sums.
NO_DROPOUT = ["--dropout", "0", "--word-dropout", "0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    from conftest import write_corpus

    root = tmp_path_factory.mktemp("distributed")
    for name, count in (("small", 400), ("large", 3000)):
        write_corpus(root / name, train=count, dev=40, test=40)
    return root


LAUNCHED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    yield
    while LAUNCHED:
        process = LAUNCHED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def launch(args: list[str], workdirs: list[Path]) -> list[subprocess.Popen]:
    """One `tagger train` process per working directory, told its place as torchrun tells it."""
    port, size = free_port(), len(workdirs)
    processes = [subprocess.Popen([sys.executable, "-m", "tagger", "train", *args], cwd=workdir,
                                  env={**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                                       "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(size),
                                       "PYTHONPATH": os.getcwd()},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for rank, workdir in enumerate(workdirs)]
    LAUNCHED.extend(processes)
    return processes


def outcomes(processes: list[subprocess.Popen], timeout: float = 300) -> list[tuple[int, str, str]]:
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        results.append((process.returncode, stdout, stderr))
    return results


def weights(model: Path) -> dict[str, torch.Tensor]:
    return torch.load(model / "weights.pt", weights_only=True)


def test_torchrun_two_processes_train_the_model_one_process_trains(corpora, tmp_path):
    data = ["--data", str(corpora / "small"), "--epochs", "2", *OPTIONS, *NO_DROPOUT]
    single = subprocess.run([sys.executable, "-m", "tagger", "train", *data, "--model", str(tmp_path / "one")],
                            env=ENV, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    pair = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "tagger", "train", *data, "--model", str(tmp_path / "two")],
                          env={**ENV, "TMPDIR": str(tmp_path)},  # where torchrun keeps its own files
                          capture_output=True, text=True, timeout=300)
    assert pair.returncode == 0, pair.stderr
    assert pair.stdout.count("Data: 400 train sentences") == 1  # one process shows the run
    assert "in 2 processes" in pair.stdout
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-3, rtol=1e-3)
    summaries = [json.loads((tmp_path / model / "training.json").read_text()) for model in ("one", "two")]
    assert summaries[1]["runtime"]["processes"] == 2
    assert abs(summaries[1]["dev"]["f1"] - summaries[0]["dev"]["f1"]) <= 0.01
    assert abs(summaries[1]["test"]["f1"] - summaries[0]["test"]["f1"]) <= 0.01


def test_only_the_main_process_writes_the_model_directory(corpora, tmp_path):
    workdirs = [tmp_path / "rank0", tmp_path / "rank1"]  # a relative --model: each process would write in its own
    for workdir in workdirs:
        workdir.mkdir()
    results = outcomes(launch(["--data", str(corpora / "small"), "--epochs", "2", *OPTIONS, "--model", "model"],
                              workdirs))
    assert [code for code, _, _ in results] == [0, 0], results
    assert (workdirs[0] / "model" / "weights.pt").is_file() and not (workdirs[0] / "model" / "checkpoint.pt").exists()
    assert not (workdirs[1] / "model").exists()
    assert results[1][1] == ""  # and only the main one prints


def test_a_setup_error_is_reported_once(corpora, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("mine")
    results = outcomes(launch(["--data", str(corpora / "small"), *OPTIONS, "--model", str(tmp_path / "model")],
                              [tmp_path, tmp_path]))
    assert [code for code, _, _ in results] == [2, 2]
    errors = "".join(stderr for _, _, stderr in results).strip().splitlines()
    assert len(errors) == 1 and "is not a model directory" in errors[0]


@pytest.mark.slow  # a minute: each waits out a run's first epoch, then the timeout
@pytest.mark.parametrize("lost, resumed_on", [(signal.SIGKILL, 2), (signal.SIGSTOP, 1)], ids=["killed", "hung"])
def test_a_lost_process_stops_the_other_with_a_message_and_resume_finishes(corpora, tmp_path, lost, resumed_on):
    """Steps count whole batches, so the run may go on with another number of processes."""
    model, timeout = tmp_path / "model", 10
    args = ["--data", str(corpora / "large"), "--epochs", "3", *OPTIONS, "--model", str(model),
            "--timeout", str(timeout)]
    processes = launch(args, [tmp_path, tmp_path])
    wait_until((model / "checkpoint.pt").exists, "the first checkpoint", timeout=300, process=processes[0])
    trained = cpu_seconds(processes[1].pid)
    wait_until(lambda: cpu_seconds(processes[1].pid) > trained + 1, "a second of training in epoch 2",
               process=processes[1])
    lost_at = time.monotonic()
    processes[1].send_signal(lost)
    code, _, stderr = outcomes(processes[:1])[0]
    waited = time.monotonic() - lost_at
    processes[1].kill()
    processes[1].wait()
    assert code == 2 and waited < timeout + 5
    assert "lost the other training processes" in stderr and "again with --resume" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    position = torch.load(model / "checkpoint.pt", weights_only=True)["position"]
    assert (position["epoch"], position["step"]) > (2, 0)  # saved where it stopped, not at the epoch's start

    results = outcomes(launch(["--model", str(model), "--resume", "--device", "cpu"], [tmp_path] * resumed_on))
    assert [code for code, _, _ in results] == [0] * resumed_on, results
    assert f"Resuming the run at epoch {position['epoch']} ({position['step']:,} steps" in results[0][1]
    assert (model / "weights.pt").is_file() and not (model / "checkpoint.pt").exists()


def cpu_seconds(pid: int) -> float:
    """The CPU time process `pid` has used (Linux's /proc), a measure of the work it has done."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_every_batch_has_a_sentence_for_every_process():
    lengths = [random.Random(i).randint(1, 40) for i in range(1003)]
    batches = length_bucketed_batches(lengths, 16, random.Random(1), min_size=4)
    assert sorted(i for batch in batches for i in batch) == list(range(1003))
    assert min(map(len, batches)) >= 4
    assert batches == length_bucketed_batches(lengths, 16, random.Random(1), min_size=4)  # every process draws the same
