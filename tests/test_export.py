"""`tagger export`: a model directory that runs on ONNX Runtime gives the torch model's tags and
scores, runs predict, eval and the Python API without torch, and refuses what it cannot do in
one line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.config import Dimensions, ModelConfig
from tagger.model.artifact import save_model
from tagger.model.encoding import Encoder
from tagger.model.network import BiLSTMTagger
from tagger.use.export import export
from tagger.use.predict import Tagger

runner = CliRunner()
TRAIN = [["Ada", "Brandt", "visited", "Velden", "in", "1996", "."], ["Corva", "fell", "sharply", "."]]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
# Training words, pretrained words kept frozen (paris, rome), unknown words, a long word, one token alone.
SENTENCES = [["Ada", "Brandt", "visited", "Paris", "and", "Rome", "in", "2001", "."], ["Corva"],
             ["Nobody", "knows", "Quexl", "or", "x" * 40, "."], ["Velden", "fell"] * 150]


def random_model(tmp_path: Path, decoder: str, layers: int) -> Path:
    """A model with random weights (frozen pretrained rows included), saved as training saves one."""
    encoder = Encoder.build(TRAIN, TAGS, pretrained_words=["paris", "rome"])
    torch.manual_seed(layers)
    dimensions = Dimensions(len(encoder.words), len(encoder.chars), len(encoder.tags), word_dim=8, frozen_words=2)
    model = BiLSTMTagger(ModelConfig(decoder=decoder, hidden_size=12, lstm_layers=layers, char_dim=5,
                                     char_filters=6), dimensions)
    with torch.no_grad():
        model.frozen_vectors.normal_()
        if model.crf is not None:
            for parameter in model.crf.parameters():
                parameter.normal_()
    save_model(tmp_path / "torch", model, encoder, {"data": "somewhere"})
    return tmp_path / "torch"


@pytest.mark.parametrize("decoder, layers", [("crf", 1), ("softmax", 1), ("crf", 2)])
def test_the_exported_model_gives_the_torch_models_tags_and_scores(tmp_path, decoder, layers):
    model_dir = random_model(tmp_path, decoder, layers)
    export(model_dir, tmp_path / "onnx")
    torch_tagged = Tagger.load(model_dir).tag(SENTENCES)
    onnx_tagger = Tagger.load(tmp_path / "onnx")
    assert type(onnx_tagger.model).__name__ == "ExportedNetwork"
    onnx_tagged = onnx_tagger.tag(SENTENCES)
    assert [tagged.tags for tagged in onnx_tagged] == [tagged.tags for tagged in torch_tagged]
    assert any(tag != "O" for tagged in torch_tagged for tag in tagged.tags)
    for found, expected in zip(onnx_tagged, torch_tagged):
        assert found.probabilities == pytest.approx(expected.probabilities, abs=1e-4)
    assert json.loads((tmp_path / "onnx" / "config.json").read_text())["network"] == "onnx"
    assert json.loads((tmp_path / "onnx" / "training.json").read_text()) == {"data": "somewhere"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small CRF trained through the CLI, and its export."""
    from conftest import train_small

    root = tmp_path_factory.mktemp("export")
    corpus, model, _ = train_small(root, "crf")
    result = runner.invoke(app, ["export", "--model", str(model), "--to", str(root / "onnx")])
    assert result.exit_code == 0, result.output
    assert "runs without torch" in result.stderr
    return corpus, model, root / "onnx"


WITHOUT_TORCH = """
import sys
from tagger.cli import app
try:
    app(sys.argv[1:])
except SystemExit as end:
    assert not end.code, end.code
assert "torch" not in sys.modules, "torch was imported"
"""


def test_predict_and_eval_run_an_exported_model_without_torch(exported):
    corpus, model, onnx = exported
    text = "Ada Brandt met Tomas Wey in Velden on Monday.\nNorvik Bank said Lina Okoro will visit Port Arlo.\n"
    outputs = {}
    for name, directory in (("torch", model), ("onnx", onnx)):
        run = subprocess.run([sys.executable, "-c", WITHOUT_TORCH if name == "onnx" else "from tagger.cli import app; "
                              "app()", "predict", "--model", str(directory), "--format", "jsonl"], input=text,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        outputs[name] = [json.loads(line) for line in run.stdout.splitlines()]
    assert [record["tags"] for record in outputs["onnx"]] == [record["tags"] for record in outputs["torch"]]
    assert any(record["entities"] for record in outputs["onnx"])
    scores = [(entity["score"], other["score"]) for found, expected in zip(outputs["onnx"], outputs["torch"])
              for entity, other in zip(found["entities"], expected["entities"])]
    assert all(abs(a - b) <= 1.5e-4 for a, b in scores)  # 4 decimals each
    evaluated = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "eval", "--model", str(onnx), "--data",
                                str(corpus), "--json"], capture_output=True, text=True, timeout=120)
    assert evaluated.returncode == 0, evaluated.stderr
    expected = runner.invoke(app, ["eval", "--model", str(model), "--data", str(corpus), "--json"])
    assert json.loads(evaluated.stdout)["f1"] == json.loads(expected.stdout)["f1"]


def test_the_python_api_loads_an_exported_model_without_torch(exported):
    _, _, onnx = exported
    code = ("import sys, tagger; "
            f"doc = tagger.load({str(onnx)!r})('Ada Brandt met Tomas Wey in Velden.'); "
            "print([(span.text, span.type) for span in doc.entities]); assert 'torch' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "('Velden', 'LOC')" in run.stdout


def one_line_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_to_that_exists_is_refused_and_left_as_it_was(exported, tmp_path):
    _, model, _ = exported
    (tmp_path / "file").write_text("mine")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    for target, message in ((tmp_path / "file", "exists (a file)"), (tmp_path / "full", "exists (a directory)"),
                            (model, "inside the model directory"), (model / "onnx", "inside the model directory"),
                            (tmp_path / "file" / "out", "is a file")):
        one_line_error(runner.invoke(app, ["export", "--model", str(model), "--to", str(target)]), message)
    assert (tmp_path / "file").read_text() == "mine" and (tmp_path / "full" / "notes.txt").read_text() == "mine"
    one_line_error(runner.invoke(app, ["export", "--model", str(tmp_path / "none"), "--to", str(tmp_path / "out")]),
                   "no model there")
    assert not (tmp_path / "out").exists()


def test_a_to_that_cannot_be_written_is_refused_before_the_model_loads(exported, tmp_path, make_unwritable):
    _, model, _ = exported
    (tmp_path / "locked").mkdir()
    make_unwritable(tmp_path / "locked")
    one_line_error(runner.invoke(app, ["export", "--model", str(model), "--to", str(tmp_path / "locked" / "out")]),
                   "cannot write in")


def test_a_damaged_exported_model_and_misuses_of_one_are_one_line(exported, tmp_path):
    import shutil

    _, _, onnx = exported
    damaged = tmp_path / "damaged"
    shutil.copytree(onnx, damaged)
    network = damaged / "model.onnx"
    content = bytearray(network.read_bytes())
    content[len(content) // 2] ^= 0xFF
    network.write_bytes(bytes(content))
    one_line_error(runner.invoke(app, ["predict", "--model", str(damaged)], input="Ada met Ivo."),
                   "model.onnx: damaged")
    network.write_bytes(bytes(content[:len(content) // 3]))  # truncated, with a checksum that matches it
    config = json.loads((damaged / "config.json").read_text())
    config["onnx_sha256"] = hashlib.sha256(network.read_bytes()).hexdigest()
    (damaged / "config.json").write_text(json.dumps(config))
    one_line_error(runner.invoke(app, ["predict", "--model", str(damaged)], input="Ada met Ivo."),
                   "model.onnx: cannot load the network")
    one_line_error(runner.invoke(app, ["train", "--model", str(onnx), "--resume"]),
                   "holds a model exported to ONNX, which tags text but cannot train")
    one_line_error(runner.invoke(app, ["predict", "--model", str(onnx), "--device", "cuda"], input="Ada met Ivo."),
                   "exported to ONNX, which tagger runs on the CPU")
    one_line_error(runner.invoke(app, ["export", "--model", str(onnx), "--to", str(tmp_path / "again")]),
                   "already exported to ONNX")


def test_export_without_the_onnx_package_says_how_to_get_it(exported, tmp_path):
    _, model, _ = exported
    code = ("import sys; sys.modules['onnx'] = None; from tagger.cli import app; "
            f"app(['export', '--model', {str(model)!r}, '--to', {str(tmp_path / 'out')!r}])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.startswith("error: tagger export needs the onnx package")
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_machine_with_only_onnxruntime_and_the_light_dependencies_runs_predict(exported, tmp_path):
    """As the README installs it where torch is not: tagger without its dependencies, then numpy,
    typer, rich and onnxruntime in a fresh virtual environment."""
    corpus, model, onnx = exported
    venv = tmp_path / "light"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    root = Path(__file__).resolve().parent.parent
    for packages in (["--no-deps", str(root)], ["numpy", "typer<0.29", "rich", "onnxruntime"]):
        install = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], capture_output=True,
                                 text=True, timeout=600)
        assert install.returncode == 0, install.stderr
    missing = subprocess.run([str(python), "-c", "import torch"], capture_output=True)
    assert missing.returncode != 0  # no torch here
    run = subprocess.run([str(venv / "bin" / "tagger"), "predict", "--model", str(onnx), "--format", "inline"],
                         input="Ada Brandt met Tomas Wey in Velden.\n", capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "[Velden](LOC)" in run.stdout
    for command, message in ((["predict", "--model", str(model)], f"error: {model}: a torch model, and torch is not "
                               "installed here; install it"),
                              (["train", "--data", str(corpus), "--model", str(tmp_path / "new")],
                               "error: this command needs the Python package ")):
        refused = subprocess.run([str(venv / "bin" / "tagger"), *command], input="Hi.\n", capture_output=True,
                                 text=True, timeout=120, cwd=tmp_path)
        assert refused.returncode == 2 and refused.stderr.startswith(message), refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
