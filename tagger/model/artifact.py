"""The model directory of a torch model, written atomically: config.json (what rebuilds the
network), vocab.json (words, characters and tags), weights.pt, and training.json (how the
model was trained and its dev and test metrics); checkpoint.pt while a run is unfinished.

Weights are a plain state dict read back with `torch.load(weights_only=True)`, so loading
a model never runs code from the file. `tagger.model.modeldir` reads the directory and its JSON,
and calls `load_network` here for the weights; `tagger.core.files` writes each file durably.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from tagger.core import files
from tagger.core.config import Dimensions, ModelConfig, package_version
from tagger.core.errors import ArtifactError
from tagger.model import compact, format1
from tagger.model.encoding import Encoder
from tagger.model.modeldir import (CHECKPOINT_FILE, CONFIG_FILE, FORMAT_VERSION, MODEL_FILES, READABLE_FORMATS,
                                   TRAINING_FILE, TRANSFORMER_DIR, VOCAB_FILE, WEIGHTS_FILE, has_checkpoint, has_model,
                                   read_checked, refuse_a_file)
from tagger.model.network import BiLSTMTagger
from tagger.model.transformer import TransformerFeatures

# What tagger writes into a model directory, the temporary files of its atomic writes included.
WRITTEN_FILES = MODEL_FILES | {f".{CHECKPOINT_FILE}.tmp", f".{TRAINING_FILE}.tmp"}
WORD_SCALES = "word_embedding.scales"  # weights.pt's scales of the trained word vectors, one a row


def save_model(model_dir: Path, model: BiLSTMTagger, encoder: Encoder, training: dict,
               features: TransformerFeatures | None = None) -> None:
    """Write the model directory in a temporary sibling, then swap it into place; with
    `features`, the transformer they come from too."""
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.tmp-", dir=model_dir.parent))
    try:
        staging.chmod(0o777 & ~files.umask())  # mkdtemp makes it private; a model directory should not be
        weights = files.write_tensors(staging / WEIGHTS_FILE, stored_weights(model))
        vocabulary = files.write_json_gz(staging / VOCAB_FILE, encoder.to_dict())
        kept = {} if features is None else {"transformer_sha256": features.save(staging / TRANSFORMER_DIR)}
        files.write_json(staging / CONFIG_FILE, {"format_version": FORMAT_VERSION, "tagger_version": package_version(),
                                            "model": asdict(model.config), "dimensions": asdict(model.dimensions),
                                            "weights_sha256": hashlib.sha256(weights).hexdigest(),
                                            "vocab_sha256": hashlib.sha256(vocabulary).hexdigest(), **kept})
        files.write_json(staging / TRAINING_FILE, training)
        checkpoint = model_dir / CHECKPOINT_FILE
        if checkpoint.is_file():
            files.link_or_copy(checkpoint, staging / CHECKPOINT_FILE)
        _replace_directory(staging, model_dir)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArtifactError(f"{model_dir}: could not save the model ({error.strerror or error}); what was "
                            "there before is unchanged") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def prepare_model_dir(model_dir: Path, overwrite: bool) -> None:
    """Check that a new run may write to `model_dir`, and can.

    A model or an unfinished run is replaced only with `overwrite` (a model stays until the
    new run saves its first one); a directory holding anything tagger did not write, never.
    """
    model_dir = Path(model_dir)
    if model_dir.is_file() or (not model_dir.exists() and model_dir.name in WRITTEN_FILES):
        refuse_a_file(model_dir)
    if model_dir.exists() and not (model_dir.is_dir() and not any(model_dir.iterdir())):
        if not (has_model(model_dir) or has_checkpoint(model_dir)):
            raise ArtifactError(f"{model_dir}: exists and is not a model directory; choose another --model")
        if has_checkpoint(model_dir) and not overwrite:
            raise ArtifactError(f"{model_dir}: holds an unfinished run; continue it with --resume, or start "
                                "again with --overwrite")
        if not overwrite:
            raise ArtifactError(f"{model_dir}: holds a trained model; pass --overwrite to replace it (it stays "
                                "until the new run saves its first model) or choose another --model")
        foreign = sorted(path.name for path in model_dir.iterdir() if path.name not in WRITTEN_FILES)
        if foreign:
            raise ArtifactError(f"{model_dir}: also holds {', '.join(foreign)}, which tagger did not write and "
                                "--overwrite would delete; move them away or choose another --model")
    check_writable(model_dir)
    if overwrite:
        (model_dir / CHECKPOINT_FILE).unlink(missing_ok=True)


def check_writable(model_dir: Path) -> None:
    """Check, by writing there, that a run can save its models and checkpoints in `model_dir`,
    so that a run that could not keep its work stops before it starts.

    A save writes the new model beside `model_dir` and renames it into place; checkpoints are
    written inside `model_dir`. Permissions alone do not tell (root ignores them, a file
    system may be mounted read-only), so each place is tried.
    """
    model_dir = Path(model_dir)
    existing = next(directory for directory in (model_dir, *model_dir.parents) if directory.exists())
    if existing != model_dir:
        if not existing.is_dir():
            raise ArtifactError(f"{model_dir}: cannot create it, {existing} is a file; choose a --model "
                                "outside it")
        _try_writing(model_dir, existing, f"cannot create it in {existing}")
        return
    _try_writing(model_dir, model_dir.parent, f"cannot write in {model_dir.parent}, where each save first "
                                              "writes the new model")
    if model_dir.is_dir():
        _try_writing(model_dir, model_dir, "cannot write in it, where the run keeps its checkpoints")


def _try_writing(model_dir: Path, directory: Path, problem: str) -> None:
    """Create and remove in `directory` what a run writes there: a save's staging directory, or
    in the model directory a checkpoint's temporary file. Named as theirs are, so that a process
    killed in between leaves nothing that tagger does not clear or overwrite itself."""
    try:
        if directory == model_dir:
            temporary = model_dir / f".{CHECKPOINT_FILE}.tmp"
            temporary.open("wb").close()
            temporary.unlink()
        else:
            os.rmdir(tempfile.mkdtemp(prefix=f".{model_dir.name}.tmp-", dir=directory))
    except OSError as error:
        raise ArtifactError(f"{model_dir}: {problem} ({error.strerror or error}); make {directory} writable or "
                            "choose another --model") from None


def save_checkpoint(model_dir: Path, checkpoint: dict) -> None:
    """Write a run's checkpoint into its model directory, atomically."""
    model_dir = Path(model_dir)
    temporary = model_dir / f".{CHECKPOINT_FILE}.tmp"
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        files.write_tensors(temporary, {"format_version": FORMAT_VERSION, **checkpoint})
        os.replace(temporary, model_dir / CHECKPOINT_FILE)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ArtifactError(f"{model_dir}: could not save the checkpoint ({error.strerror or error}); the "
                            "previous one, and the best model, are unchanged") from None


def load_checkpoint(model_dir: Path) -> dict | None:
    """The checkpoint of an unfinished run in `model_dir`, or None."""
    path = Path(model_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        reason = str(error).strip().splitlines()[0]
        raise ArtifactError(f"{path}: cannot read the checkpoint ({reason}); start again with "
                            "--overwrite") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format_version") not in READABLE_FORMATS:
        raise ArtifactError(f"{path}: not a checkpoint this tagger can resume; start again with --overwrite")
    if checkpoint["format_version"] == 1:
        return {**format1.checkpoint_as_format_2(checkpoint), "format_version": FORMAT_VERSION}
    return checkpoint


def remove_checkpoint(model_dir: Path) -> None:
    (Path(model_dir) / CHECKPOINT_FILE).unlink(missing_ok=True)


def update_training(model_dir: Path, **entries) -> None:
    """Add entries (such as test metrics) to a saved model's training.json, atomically."""
    path = Path(model_dir) / TRAINING_FILE
    training = json.loads(path.read_text(encoding="utf-8"))
    training.update(entries)
    temporary = path.with_name(f".{TRAINING_FILE}.tmp")
    try:
        files.write_json(temporary, training)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ArtifactError(f"{path}: could not update it ({error.strerror or error}); it is unchanged") from None


def stored_weights(model: BiLSTMTagger) -> dict[str, torch.Tensor]:
    """The weights as weights.pt keeps them: the trained word vectors in 8 bits with a scale per
    row (tagger.model.compact), the frozen ones as the model holds them, the rest in half precision.
    A checkpoint keeps them all as they are, so that a resumed run trains on exactly."""
    stored = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if name == "word_embedding.weight":
            codes, scales = compact.pack_bytes(tensor.numpy())
            stored[name], stored[WORD_SCALES] = torch.from_numpy(codes), torch.from_numpy(scales)
        else:
            stored[name] = tensor.half() if tensor.dtype == torch.float32 else tensor
    return stored


def read_weights(model_dir: Path, config: dict) -> dict[str, torch.Tensor]:
    """weights.pt as saved, checked against its checksum and read without running code."""
    weights = model_dir / WEIGHTS_FILE
    content = read_checked(weights, config, "weights_sha256")
    try:
        state = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        reason = str(error).strip().splitlines()[0]
        raise ArtifactError(f"{weights}: cannot load the weights ({reason}); retrain the model") from None
    if not isinstance(state, dict):
        raise ArtifactError(f"{weights}: not a model's weights; retrain the model")
    return state


def load_network(model_dir: Path, config: dict, settings: ModelConfig, dimensions: Dimensions,
                 device: str, threads: int) -> BiLSTMTagger:
    """The network of the model directory `tagger.model.modeldir` has read `config` of, its weights
    checked against their checksum and loaded without running code, on `device`, with torch
    set to run its operations on `threads` threads."""
    from tagger.core.device import resolve_device

    torch_device = resolve_device(device)
    torch.set_num_threads(threads)
    try:
        model = BiLSTMTagger(settings, dimensions)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ArtifactError(f"{model_dir / CONFIG_FILE}: the model settings are missing or wrong ({error}); "
                            "retrain the model") from None
    state = read_weights(model_dir, config)
    try:
        if WORD_SCALES in state:  # half-precision tensors load into float32 ones as they are
            codes = state["word_embedding.weight"].float()
            state["word_embedding.weight"] = codes * state.pop(WORD_SCALES)[:, None]
        model.load_state_dict(state)
    except Exception as error:  # shape and key errors come in several types
        reason = str(error).strip().splitlines()[0]
        raise ArtifactError(f"{model_dir / WEIGHTS_FILE}: cannot load the weights ({reason}); retrain the model") from None
    return model.to(torch_device).eval()


def recover_interrupted_save(model_dir: Path) -> None:
    """Undo what a save cut short left beside `model_dir`: its staging directory, and the old
    model moved aside (put back if the new one never arrived)."""
    model_dir = Path(model_dir)
    for leftover in model_dir.parent.glob(f".{model_dir.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in model_dir.parent.glob(f".{model_dir.name}.old-*"):
        if not model_dir.exists() and (leftover / model_dir.name).is_dir():
            os.replace(leftover / model_dir.name, model_dir)
        shutil.rmtree(leftover, ignore_errors=True)


def _replace_directory(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`; an old `target` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
