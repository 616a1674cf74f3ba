"""Reading a model directory, without torch: its files, its JSON (config.json, vocab.json,
training.json) and its format, checked; the network itself is loaded by the module that owns
its kind: torch's weights by `tagger.model.artifact`, an ONNX export by `tagger.model.exported`.

Directories of format 1, which kept the training summary and the tags in config.json, still
load (`tagger.model.format1` reads them as format 2).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shlex
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from tagger.core.config import NETWORK_THREADS, Dimensions, ModelConfig, check_threads
from tagger.core.errors import ArtifactError
from tagger.model import format1
from tagger.model.encoding import Encoder

FORMAT_VERSION = 3  # 3: compact weights (tagger.model.compact) and vocab.json.gz
READABLE_FORMATS = (1, 2, 3)
CONFIG_FILE, WEIGHTS_FILE, ONNX_FILE = "config.json", "weights.pt", "model.onnx"
VOCAB_FILE, FORMAT_2_VOCAB_FILE = "vocab.json.gz", "vocab.json"
TRAINING_FILE = "training.json"
CHECKPOINT_FILE = "checkpoint.pt"  # an unfinished run's state; gone when the run ends
TRANSFORMER_DIR = "transformer"  # where a model with contextual features keeps its transformer
EXPORTED = "onnx"  # config.json's "network" in a directory `tagger export` wrote
# What tagger writes into a model directory.
MODEL_FILES = frozenset({CONFIG_FILE, VOCAB_FILE, FORMAT_2_VOCAB_FILE, WEIGHTS_FILE, TRAINING_FILE, CHECKPOINT_FILE,
                         ONNX_FILE, TRANSFORMER_DIR})
LOAD_ATTEMPTS = 10  # a load that saw the directory being replaced is tried again


@dataclass
class SavedModel:
    model: object  # a tagger.use.predict.Network: a BiLSTMTagger, or an exported network
    encoder: Encoder
    training: dict  # training.json: data, options, best epoch, dev and test metrics
    config: dict  # config.json
    features: object = None  # a tagger.model.transformer.TransformerFeatures, for a model trained with one


def load_model(model_dir: Path, device: str = "cpu", threads: int = NETWORK_THREADS) -> SavedModel:
    """The model saved in `model_dir`, on `device` (a --device name: auto, cpu, cuda or cuda:N),
    its network running on `threads` threads; every problem is an ArtifactError naming the file.

    A training run may swap in a new model directory while this reads: the files read can
    then mix the two (the checksum tells), or the directory can be missing for an instant.
    Reading again, once the swap is done, gets one model whole.
    """
    model_dir = Path(model_dir)
    check_threads(threads)
    for attempt in range(1, LOAD_ATTEMPTS):
        identity = _identity(model_dir)
        try:
            return _load_model(model_dir, device, threads)
        except ArtifactError:
            if _identity(model_dir) == identity and not _save_in_progress(model_dir):
                raise
        time.sleep(0.01 * attempt)
    return _load_model(model_dir, device, threads)


def has_model(model_dir: Path) -> bool:
    """Whether `model_dir` holds a saved model: a config.json that tagger wrote."""
    try:
        config = json.loads((Path(model_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and "format_version" in config


def is_exported(model_dir: Path) -> bool:
    """Whether `model_dir` holds a model exported to ONNX (which runs, but cannot train)."""
    try:
        config = json.loads((Path(model_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("network") == EXPORTED


def has_checkpoint(model_dir: Path) -> bool:
    """Whether `model_dir` holds an unfinished run."""
    return (Path(model_dir) / CHECKPOINT_FILE).is_file()


def read_checked(path: Path, config: dict, key: str) -> bytes:
    """The bytes of `path`, whose sha256 config.json records under `key`."""
    remedy = _remedy(config)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; the model directory is incomplete: restore it or {remedy}") from None
    if key in config and hashlib.sha256(content).hexdigest() != config[key]:
        raise ArtifactError(f"{path}: damaged (truncated or altered: its checksum differs from the one in "
                            f"{CONFIG_FILE}); restore it or {remedy}")
    return content


def _remedy(config: dict) -> str:
    """What makes a damaged model directory whole again: the command that wrote it."""
    return "export the model again" if config.get("network") == EXPORTED else "retrain the model"


def refuse_a_file(model_dir: Path) -> None:
    holder = model_dir.parent
    where = f"--model {shlex.quote(str(holder))}" if has_model(holder) or has_checkpoint(holder) \
        else "give a directory"
    kind = "a file" if model_dir.is_file() else "the name of a model's file"
    raise ArtifactError(f"{model_dir}: {kind}, not a model directory; --model takes the directory: {where}")


def _identity(model_dir: Path) -> int | None:
    try:
        return model_dir.stat().st_ino
    except FileNotFoundError:
        return None


def _save_in_progress(model_dir: Path) -> bool:
    return any(model_dir.parent.glob(f".{model_dir.name}.old-*"))


def _load_model(model_dir: Path, device: str, threads: int) -> SavedModel:
    if model_dir.is_file():
        refuse_a_file(model_dir)
    if not model_dir.is_dir():
        raise ArtifactError(f"{model_dir}: no model there; train one with `tagger train --model "
                            f"{shlex.quote(str(model_dir))}` or point --model at a model directory")
    config_path = model_dir / CONFIG_FILE
    if not config_path.exists() and has_checkpoint(model_dir):
        raise ArtifactError(f"{model_dir}: holds an unfinished run that has not saved a model yet; continue it "
                            f"with: tagger train --model {shlex.quote(str(model_dir))} --resume")
    if not any((model_dir / name).exists() for name in MODEL_FILES):
        raise ArtifactError(f"{model_dir}: holds no tagger model (one is a folder of {CONFIG_FILE}, {VOCAB_FILE} and "
                            f"{WEIGHTS_FILE} or {ONNX_FILE}, as `tagger train` and `tagger export` write); point --model "
                            "at such a folder, or train one into this one")
    config = read_json(config_path)
    version = config.get("format_version")
    if version not in READABLE_FORMATS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ArtifactError(f"{config_path}: model format {version!r}, this tagger reads formats "
                            f"{READABLE_FORMATS[0]} to {FORMAT_VERSION}; "
                            + ("upgrade tagger to use it" if newer else "retrain the model"))
    try:
        if version == 1:
            config, training = format1.config_as_format_2(config)
        else:  # a summary: a model loads without it
            training = read_json(model_dir / TRAINING_FILE) if (model_dir / TRAINING_FILE).is_file() else {}
        settings, dimensions = ModelConfig(**config["model"]), Dimensions(**config["dimensions"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{config_path}: the model settings are missing or wrong ({error}); "
                            f"{_remedy(config)}") from None
    vocab_path = model_dir / (VOCAB_FILE if version >= 3 else FORMAT_2_VOCAB_FILE)
    encoder = _read_vocabulary(vocab_path, config)
    for name, found, expected in (("words", len(encoder.words), dimensions.word_count),
                                  ("characters", len(encoder.chars), dimensions.char_count),
                                  ("tags", len(encoder.tags), dimensions.tag_count)):
        if found != expected:
            raise ArtifactError(f"{vocab_path}: {found:,} {name}, but the network in {CONFIG_FILE} has "
                                f"{expected:,}; the files come from different models")
    if config.get("network") == EXPORTED:
        from tagger.model.exported import load_network
    else:
        try:
            from tagger.model.artifact import load_network
        except ModuleNotFoundError as error:
            if error.name != "torch":
                raise
            raise ArtifactError(f"{model_dir}: a torch model, and torch is not installed here; install it (see "
                                "the README's Install), or run a model exported with `tagger export`") from None
    network = load_network(model_dir, config, settings, dimensions, device, threads)
    features = None
    if dimensions.feature_dim:
        from tagger.model.transformer import load_kept

        features = load_kept(model_dir / TRANSFORMER_DIR, config, settings, device, _remedy(config)).for_tagging()
    return SavedModel(network, encoder, training, config, features)


def read_json(path: Path) -> dict:
    """A JSON object of the model directory; an ArtifactError for anything else."""
    data = _read_json_value(path)
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object; retrain the model")
    return data


def _read_json_value(path: Path, config: dict | None = None) -> object:
    """The JSON in `path` (gzip-compressed if its name ends in .gz), its checksum checked when
    `config` records one."""
    try:
        content = read_checked(path, config or {}, "vocab_sha256")
        return json.loads(gzip.decompress(content) if path.suffix == ".gz" else content)
    except (UnicodeDecodeError, json.JSONDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ArtifactError(f"{path}: not valid JSON ({error}); retrain the model") from None


def _read_vocabulary(path: Path, config: dict) -> Encoder:
    """The vocabularies in vocab.json; any other shape is a file damaged or replaced since, named
    as such rather than by the error it would cause."""
    try:
        return Encoder.from_dict(_read_json_value(path, config))
    except ValueError as problem:
        raise ArtifactError(f"{path}: not a vocabulary tagger wrote ({problem}): damaged or replaced; restore it "
                            "from a copy of the model or retrain the model") from None


def training_settings(training: dict) -> dict:
    """The training settings a saved model's training.json records: its `config`, or the
    `options` (all but the network's design) that earlier versions wrote; {} where neither is."""
    for key in ("config", "options"):
        if isinstance(training.get(key), dict):
            return training[key]
    return {}
