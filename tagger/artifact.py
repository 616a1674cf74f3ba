"""The model directory: config.json, vocab.json and weights.pt, written atomically.

Weights are a plain state dict read back with `torch.load(weights_only=True)`, so loading
a model never runs code from the file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from tagger.encoding import Encoder
from tagger.errors import ArtifactError
from tagger.model import BiLSTMTagger, ModelConfig

FORMAT_VERSION = 1
CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.json", "weights.pt"


@dataclass
class SavedModel:
    model: BiLSTMTagger
    encoder: Encoder
    info: dict  # everything in config.json beside the model config: training options, scores


def save_model(model_dir: Path, model: BiLSTMTagger, encoder: Encoder, info: dict) -> None:
    """Write the model directory in a temporary sibling, then swap it into place."""
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.tmp-", dir=model_dir.parent))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a model directory should not be
        config = {"format_version": FORMAT_VERSION, "tagger_version": _package_version(),
                  "model": asdict(model.config), "tags": encoder.tags.items,
                  "vocabulary_sizes": {"words": len(encoder.words), "chars": len(encoder.chars)},
                  **info}
        _write_json(staging / CONFIG_FILE, config)
        _write_json(staging / VOCAB_FILE, encoder.to_dict())
        state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
        torch.save(state, staging / WEIGHTS_FILE)
        _replace_directory(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def update_info(model_dir: Path, **fields) -> None:
    """Add fields (such as test scores) to a saved model's config.json, atomically."""
    path = Path(model_dir) / CONFIG_FILE
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(fields)
    temporary = path.with_name(f".{CONFIG_FILE}.tmp")
    _write_json(temporary, config)
    os.replace(temporary, path)


def load_model(model_dir: Path, device: torch.device | str = "cpu") -> SavedModel:
    """Rebuild a saved model; every problem is an ArtifactError naming the file."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ArtifactError(f"{model_dir}: no model there; train one with `tagger train --model "
                            f"{model_dir}` or point --model at a model directory")
    config = _read_json(model_dir / CONFIG_FILE)
    if config.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{model_dir / CONFIG_FILE}: model format {config.get('format_version')!r}, "
                            f"this tagger reads format {FORMAT_VERSION}; retrain or upgrade tagger")
    try:
        model_config = ModelConfig(**config["model"])
        encoder = Encoder.from_dict(_read_json(model_dir / VOCAB_FILE))
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{model_dir}: config.json or vocab.json lacks or garbles {error}; "
                            "retrain the model") from None
    model = BiLSTMTagger(model_config)
    weights = model_dir / WEIGHTS_FILE
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except FileNotFoundError:
        raise ArtifactError(f"{weights}: missing; the model directory is incomplete, retrain it") from None
    except Exception as error:  # unpickling and shape errors come in many types
        reason = str(error).strip().splitlines()[0]
        raise ArtifactError(f"{weights}: cannot load the weights ({reason}); retrain the model") from None
    info = {key: value for key, value in config.items() if key != "model"}
    return SavedModel(model.to(device).eval(), encoder, info)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _package_version() -> str:
    try:
        return version("tagger")
    except PackageNotFoundError:
        return "unknown"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; the model directory is incomplete, retrain it") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: not valid JSON ({error}); retrain the model") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object; retrain the model")
    return data


def _write_json(path: Path, data: dict) -> None:
    with path.open("w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, ensure_ascii=False)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())


def _replace_directory(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`; an old `target` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
