"""The model directory: round trip, atomic replacement, no code run on load, and directories
written by earlier versions."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from tagger.core.config import Dimensions, ModelConfig
from tagger.core.errors import ArtifactError
from tagger.model import artifact, modeldir
from tagger.model.artifact import save_model
from tagger.model.encoding import Encoder
from tagger.model.modeldir import load_model
from tagger.model.network import BiLSTMTagger

FIXTURES = Path(__file__).parent / "fixtures"
FORMAT_1 = FIXTURES / "format-1"


def small_model(seed: int):
    encoder = Encoder.build([["Ada", "met", "Ivo"]], ["O", "B-PER"], pretrained_words=["paris", "rome"])
    torch.manual_seed(seed)
    dimensions = Dimensions(len(encoder.words), len(encoder.chars), len(encoder.tags), word_dim=4, frozen_words=2)
    return BiLSTMTagger(ModelConfig(char_dim=3, char_filters=2, hidden_size=3), dimensions), encoder


def test_round_trip_keeps_weights_vocabulary_and_training_summary(tmp_path):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {"data": "somewhere"})
    saved = load_model(tmp_path / "m")
    assert saved.encoder.to_dict() == encoder.to_dict() and saved.training == {"data": "somewhere"}
    assert saved.model.config == model.config and saved.model.dimensions == model.dimensions
    for name, tensor in model.state_dict().items():
        found = saved.model.state_dict()[name]
        if name == "word_embedding.weight":  # 8 bits a value, to half a step of its row's scale
            steps = tensor.abs().amax(dim=1, keepdim=True) / 127
            assert ((found - tensor).abs() <= steps / 2 + 1e-7).all()
        elif tensor.is_floating_point():  # half precision, as saved
            assert torch.equal(found, tensor.half().to(tensor.dtype))
        else:
            assert torch.equal(found, tensor)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert set(config) == {"format_version", "tagger_version", "model", "dimensions", "weights_sha256", "vocab_sha256"}
    assert config["format_version"] == 3 and not (tmp_path / "m" / "vocab.json").exists()
    weights = (tmp_path / "m" / "weights.pt").read_bytes()
    save_model(tmp_path / "again", saved.model, saved.encoder, saved.training)
    assert (tmp_path / "again" / "weights.pt").read_bytes() == weights  # what was saved is saved again as it was


def test_failed_save_leaves_the_previous_model_and_no_debris(tmp_path, monkeypatch):
    old, encoder = small_model(0)
    save_model(tmp_path / "m", old, encoder, {"version": "old"})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifact.torch, "save", disk_full)
    with pytest.raises(ArtifactError, match="m: could not save the model .No space left on device.; what was "
                                            "there before is unchanged"):
        save_model(tmp_path / "m", small_model(1)[0], encoder, {"version": "new"})
    with pytest.raises(ArtifactError, match="could not save the checkpoint .No space left"):
        artifact.save_checkpoint(tmp_path / "m", {"position": {}})
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "training.json", "vocab.json.gz",
                                                                  "weights.pt"]
    assert load_model(tmp_path / "m").training["version"] == "old"


def test_a_new_run_never_replaces_a_model_unasked(tmp_path):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    with pytest.raises(ArtifactError, match="holds a trained model; pass --overwrite"):
        artifact.prepare_model_dir(tmp_path / "m", overwrite=False)
    artifact.prepare_model_dir(tmp_path / "m", overwrite=True)  # allowed, and the model is still there
    assert load_model(tmp_path / "m")
    assert [path.name for path in tmp_path.iterdir()] == ["m"]  # checking it could write there left nothing
    assert sorted(path.name for path in (tmp_path / "m").iterdir()) == ["config.json", "training.json", "vocab.json.gz",
                                                                      "weights.pt"]
    artifact.save_checkpoint(tmp_path / "m", {"position": {}})
    with pytest.raises(ArtifactError, match="holds an unfinished run; continue it with --resume"):
        artifact.prepare_model_dir(tmp_path / "m", overwrite=False)
    (tmp_path / "run").mkdir()  # a run stopped before its first model: a checkpoint alone
    artifact.save_checkpoint(tmp_path / "run", {"position": {}})
    artifact.prepare_model_dir(tmp_path / "run", overwrite=True)
    assert not modeldir.has_checkpoint(tmp_path / "run")


def a_run(directory: Path) -> Path:
    """A model directory holding a model and a checkpoint."""
    save_model(directory, *small_model(0), {})
    artifact.save_checkpoint(directory, {"position": {}})
    return directory


def read_only(root: Path, lock) -> Path:
    (root / "ro").mkdir(exist_ok=True)
    return lock(root / "ro")


def a_file(root: Path) -> Path:
    (root / "ro").write_text("a file")
    return root / "ro"


def a_run_in_read_only(root: Path, lock) -> Path:
    a_run(root / "ro" / "m")
    lock(root / "ro")
    return root / "ro" / "m"


# Each case: the model directory, made in tmp_path with `lock` (which makes a directory
# unwritable); whether the new run overwrites it; the message ({root}: tmp_path).
UNWRITABLE = {
    "new, in a read-only directory": (lambda root, lock: read_only(root, lock) / "m", False,
                                      ("ro/m: cannot create it in {root}/ro (.+); make {root}/ro writable or choose "
                                       "another --model$")),
    "new, deeper in a read-only directory": (lambda root, lock: read_only(root, lock) / "a" / "m", False,
                                             "ro/a/m: cannot create it in {root}/ro "),
    "empty and read-only": (lambda root, lock: read_only(root, lock), False,
                            ("ro: cannot write in it, where the run keeps its checkpoints (.+); make {root}/ro "
                             "writable")),
    "a read-only model, overwritten": (lambda root, lock: lock(a_run(root / "m")), True,
                                       "m: cannot write in it, where the run keeps its checkpoints"),
    "a model in a read-only directory, overwritten": (a_run_in_read_only, True,
                                                      ("ro/m: cannot write in {root}/ro, where each save first "
                                                       "writes the new model")),
    "under a file": (lambda root, lock: a_file(root) / "m", False,
                     "ro/m: cannot create it, {root}/ro is a file; choose a --model outside it$"),
    "deeper under a file": (lambda root, lock: a_file(root) / "a" / "m", False,
                            "ro/a/m: cannot create it, {root}/ro is a file"),
}


@pytest.mark.parametrize("case", UNWRITABLE)
def test_a_model_directory_that_cannot_be_written_is_refused_before_the_run(tmp_path, make_unwritable, case):
    where, overwrite, message = UNWRITABLE[case]
    model_dir = where(tmp_path, make_unwritable)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ArtifactError, match=message.format(root=re.escape(str(tmp_path)))):
        artifact.prepare_model_dir(model_dir, overwrite=overwrite)
    assert sorted(tmp_path.rglob("*")) == before  # nothing removed, nothing left behind


@pytest.mark.parametrize("files", [{"notes.txt": "keep me"}, {"config.json": '{"name": "my-project"}', "main.py": ""}])
def test_a_directory_that_is_not_a_models_is_never_replaced(tmp_path, files):
    for name, text in files.items():
        (tmp_path / "mine" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "mine" / name).write_text(text)
    for overwrite in (False, True):
        with pytest.raises(ArtifactError, match="exists and is not a model directory"):
            artifact.prepare_model_dir(tmp_path / "mine", overwrite=overwrite)
    assert {path.name: path.read_text() for path in (tmp_path / "mine").iterdir()} == files


def test_overwrite_never_deletes_what_a_user_put_beside_a_model(tmp_path):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    (tmp_path / "m" / "NOTES.md").write_text("how I trained it")
    with pytest.raises(ArtifactError, match="also holds NOTES.md, which tagger did not write and --overwrite "
                                            "would delete"):
        artifact.prepare_model_dir(tmp_path / "m", overwrite=True)
    assert (tmp_path / "m" / "NOTES.md").read_text() == "how I trained it"


def test_a_model_loads_without_its_training_summary(tmp_path):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {"data": "somewhere"})
    (tmp_path / "m" / "training.json").unlink()
    assert load_model(tmp_path / "m").training == {}


def test_saving_keeps_the_runs_checkpoint(tmp_path):
    model, encoder = small_model(0)
    artifact.save_checkpoint(tmp_path / "m", {"position": {"epoch": 2}})
    save_model(tmp_path / "m", model, encoder, {})
    assert artifact.load_checkpoint(tmp_path / "m")["position"] == {"epoch": 2}


def test_debris_of_a_crashed_save_is_cleared_and_a_model_moved_aside_comes_back(tmp_path):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {"version": "old"})
    (tmp_path / ".m.tmp-abc").mkdir()  # a crash while writing the new model
    (tmp_path / ".m.old-xyz").mkdir()  # ... and one after moving the old model aside
    (tmp_path / "m").rename(tmp_path / ".m.old-xyz" / "m")
    artifact.recover_interrupted_save(tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert load_model(tmp_path / "m").training["version"] == "old"


class Exploit:
    def __reduce__(self):
        return (open, ("/tmp/tagger-exploit-ran", "w"))


def test_pickled_code_in_weights_is_refused_and_not_run(tmp_path):
    import os

    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    torch.save({"word_embedding.weight": Exploit()}, tmp_path / "m" / "weights.pt")
    # Whoever can write the weights can write the checksum too: loading must still refuse.
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["weights_sha256"] = hashlib.sha256((tmp_path / "m" / "weights.pt").read_bytes()).hexdigest()
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    if os.path.exists("/tmp/tagger-exploit-ran"):
        os.remove("/tmp/tagger-exploit-ran")
    with pytest.raises(ArtifactError, match="weights.pt: cannot load"):
        load_model(tmp_path / "m")
    assert not os.path.exists("/tmp/tagger-exploit-ran")


@pytest.mark.parametrize("change, message", [
    (lambda config: config.pop("model"), "config.json: the model settings are missing or wrong"),
    (lambda config: config["dimensions"].pop("tag_count"), "config.json: the model settings are missing or wrong"),
    (lambda config: config["model"].update(hidden_size="big"), "config.json: the model settings are missing"),
    (lambda config: config["model"].update(layers=3), "config.json: the model settings are missing or wrong"),
    (lambda config: config["model"].update(decoder="hmm"), "config.json: the model settings are missing or wrong"),
    (lambda config: config.update(format_version=99), "model format 99, this tagger reads formats 1 to 3; upgrade"),
    (lambda config: config.pop("format_version"), "model format None, this tagger reads formats 1 to 3; retrain"),
])
def test_damaged_config_is_refused(tmp_path, change, message):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=message):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("damage", [
    lambda data: data[:len(data) // 2],  # truncated
    lambda data: data[:len(data) - 200] + bytes([data[-200] ^ 0x10]) + data[len(data) - 199:],  # one bit flipped
])
def test_damaged_weights_are_refused(tmp_path, damage):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    weights = tmp_path / "m" / "weights.pt"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(ArtifactError, match="weights.pt: damaged .truncated or altered"):
        load_model(tmp_path / "m")


def rewrite_vocabulary(model_dir: Path, vocabulary) -> None:
    """Replace the vocabulary, and its checksum with it: what the checks after the checksum see."""
    content = gzip.compress(json.dumps(vocabulary).encode())
    (model_dir / "vocab.json.gz").write_bytes(content)
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "vocab_sha256": hashlib.sha256(content).hexdigest()}))


def test_a_changed_vocabulary_is_refused_by_its_checksum(tmp_path):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    path = tmp_path / "m" / "vocab.json.gz"
    data = json.loads(gzip.decompress(path.read_bytes()))
    data["words"]["items"][2], data["words"]["items"][3] = data["words"]["items"][3], data["words"]["items"][2]
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ArtifactError, match="vocab.json.gz: damaged .truncated or altered"):
        load_model(tmp_path / "m")


def test_vocabulary_of_another_model_is_refused(tmp_path):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    other = Encoder.build([["Ada", "met", "Ivo", "and", "Lina"]], ["O", "B-PER"], pretrained_words=["paris"])
    rewrite_vocabulary(tmp_path / "m", other.to_dict())
    with pytest.raises(ArtifactError, match="vocab.json.gz: 8 words, but the network in config.json has 7; the "
                                            "files come from different models"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("vocabulary, problem", [
    ({"words": {"a": 1}}, "'words' lacks its list of items or its unknown flag"),
    ({"words": ["a", "b"]}, "'words' is not an object"),
    ({"tags": {"items": ["O"], "unknown": False}}, "no 'words' object"),
    (["words", "chars", "tags"], "not a JSON object"),
    (lambda saved: {**saved, "words": {**saved["words"], "items": list(range(len(saved["words"]["items"])))}},
     "'words' has items that are not strings"),
    (lambda saved: {**saved, "words": {**saved["words"], "sorted_from": 99}},
     "'words' has a sorted_from that is not a position in its items"),
], ids=["words as a mapping", "words as a list", "no words", "a list", "numbers for words", "sorted past the end"])
def test_a_damaged_vocabulary_is_named_as_such(tmp_path, vocabulary, problem):
    model, encoder = small_model(0)
    save_model(tmp_path / "m", model, encoder, {})
    path = tmp_path / "m" / "vocab.json.gz"
    if callable(vocabulary):
        vocabulary = vocabulary(json.loads(gzip.decompress(path.read_bytes())))
    rewrite_vocabulary(tmp_path / "m", vocabulary)
    with pytest.raises(ArtifactError) as raised:
        load_model(tmp_path / "m")
    assert str(raised.value) == (f"{path}: not a vocabulary tagger wrote ({problem}): damaged or replaced; restore "
                                 "it from a copy of the model or retrain the model")


LOADER = """
import hashlib, json, sys, time
from tagger.model.modeldir import load_model
seen, deadline = [], time.time() + float(sys.argv[2])
while time.time() < deadline:
    saved = load_model(sys.argv[1])
    weights = b"".join(tensor.numpy().tobytes() for tensor in saved.model.state_dict().values())
    seen.append([saved.training["version"], hashlib.sha256(weights).hexdigest()])
print(json.dumps(seen))
"""


def test_readers_see_the_old_or_the_new_model_never_a_mix(tmp_path):
    import hashlib
    import subprocess
    import sys
    import time

    models = {version: small_model(seed) for version, seed in (("a", 0), ("b", 1))}
    digests = {}
    for version, model in models.items():  # each model's weights as a reader gets them back
        save_model(tmp_path / version, *model, {})
        state = load_model(tmp_path / version).model.state_dict()
        digests[version] = hashlib.sha256(b"".join(tensor.numpy().tobytes() for tensor in state.values())).hexdigest()
    save_model(tmp_path / "m", *models["a"], {"version": "a"})
    readers = [subprocess.Popen([sys.executable, "-c", LOADER, str(tmp_path / "m"), "6"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    deadline, saves = time.time() + 8, 0
    while time.time() < deadline:  # a run saving a new best model, far more often than once an epoch
        version = "ab"[saves % 2]
        save_model(tmp_path / "m", *models[version], {"version": version})
        saves += 1
        time.sleep(0.02)
    for reader in readers:
        output, errors = reader.communicate(timeout=60)
        assert reader.returncode == 0, errors
        seen = json.loads(output)
        assert {version for version, _ in seen} == {"a", "b"}  # it read while the model changed
        assert all(digest == digests[version] for version, digest in seen)


def test_a_format_1_model_loads_and_tags_as_the_version_that_wrote_it():
    from tagger.use.predict import Tagger

    expected = json.loads((FORMAT_1 / "expected.json").read_text())
    saved = load_model(FORMAT_1 / "model")
    assert saved.model.config == ModelConfig(decoder="softmax", hidden_size=16)
    assert saved.training["best_epoch"] >= 1 and 0.0 < saved.training["test"]["f1"] <= 1.0
    tagged = Tagger(saved.model, saved.encoder).tag(expected["sentences"])
    assert [t.tags for t in tagged] == expected["tags"]
    assert any(tag != "O" for tags in expected["tags"] for tag in tags)
    for found, wanted in zip(tagged, expected["probabilities"]):
        assert found.probabilities == pytest.approx(wanted, abs=1e-6)


def test_a_format_2_model_loads_and_tags_as_the_version_that_wrote_it():
    """A CRF whose frozen vectors are in half precision, its weights in float32, and vocab.json."""
    from tagger.use.predict import Tagger

    expected = json.loads((FIXTURES / "format-2" / "expected.json").read_text())
    saved = load_model(FIXTURES / "format-2" / "model")
    assert saved.model.config.decoder == "crf" and saved.model.dimensions.frozen_words == 3
    tagged = Tagger(saved.model, saved.encoder).tag(expected["sentences"])
    assert [t.tags for t in tagged] == expected["tags"]
    for found, wanted in zip(tagged, expected["probabilities"]):
        assert found.probabilities == pytest.approx(wanted, abs=1e-5)


@pytest.mark.parametrize("fixture", ["format-1", "format-2"])
def test_an_earlier_model_exports_to_onnx_and_tags_as_before(fixture, tmp_path):
    from tagger.use.export import export
    from tagger.use.predict import Tagger

    expected = json.loads((FIXTURES / fixture / "expected.json").read_text())
    export(FIXTURES / fixture / "model", tmp_path / "onnx")
    tagged = Tagger.load(tmp_path / "onnx").tag(expected["sentences"])
    assert [t.tags for t in tagged] == expected["tags"]
    for found, wanted in zip(tagged, expected["probabilities"]):
        assert found.probabilities == pytest.approx(wanted, abs=1e-4)


def test_a_format_1_run_resumes_and_finishes_as_the_current_format(tmp_path, monkeypatch):
    from tagger.core.config import Runtime
    from tagger.train.records import Finished
    from tagger.train.run import resume

    shutil.copytree(FORMAT_1, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)  # the run's data and vectors are relative paths
    checkpoint = artifact.load_checkpoint(Path("run"))
    assert checkpoint["config"]["model"]["hidden_size"] == 16 and "best_f1" not in checkpoint["position"]
    records = list(resume(Path("run"), Runtime(device="cpu")))
    assert records[0].resumed_at == (2, 0) and isinstance(records[-1], Finished)
    assert not modeldir.has_checkpoint(Path("run"))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["format_version"] == 3 and config["model"]["hidden_size"] == 16
    assert config["dimensions"]["frozen_bits"] == 16  # its vectors kept as the run began with them
    assert load_model(Path("run")).training["config"]["epochs"] == 6
