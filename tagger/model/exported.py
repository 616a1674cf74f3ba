"""A model exported to ONNX (`tagger export`), run by ONNX Runtime: no torch is imported.

The network's logits come from `model.onnx`; decoding is `tagger.model.decoding`'s, as for a torch
model, with the CRF's transitions read from config.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tagger.core.config import Dimensions, ModelConfig
from tagger.core.errors import ArtifactError, TaggerError
from tagger.model.decoding import Transitions
from tagger.model.encoding import Batch
from tagger.model.modeldir import CONFIG_FILE, ONNX_FILE, read_checked


class ExportedNetwork:
    """The network of an exported model: scores a batch with ONNX Runtime."""

    def __init__(self, session, config: ModelConfig, dimensions: Dimensions, transitions: Transitions | None):
        self.session, self.config, self.dimensions, self.transitions = session, config, dimensions, transitions

    def scores(self, batch: Batch) -> tuple[np.ndarray, Transitions | None]:
        """The logits of `batch`, (batch, seq, tags), and the CRF's transitions (None for softmax)."""
        logits, = self.session.run(["logits"], {"word_ids": batch.word_ids, "token_forms": batch.token_forms,
                                                "char_ids": batch.char_ids, "lengths": batch.lengths})
        return logits, self.transitions


def load_network(model_dir: Path, config: dict, settings: ModelConfig, dimensions: Dimensions,
                 device: str, threads: int) -> ExportedNetwork:
    """The exported network of the model directory `tagger.model.modeldir` has read `config` of, its
    model.onnx checked against its checksum, running its operations on `threads` threads."""
    if device not in ("auto", "cpu"):
        raise TaggerError(f"--device {device}: {model_dir} is exported to ONNX, which tagger runs on the CPU; use "
                          "--device cpu, or the torch model it was exported from")
    try:
        import onnxruntime
    except ImportError:
        raise TaggerError(f"{model_dir}: a model exported to ONNX needs onnxruntime: pip install onnxruntime "
                          "(or pip install 'tagger[onnx]')") from None
    content = read_checked(model_dir / ONNX_FILE, config, "onnx_sha256")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its warnings are for the exporter's author, not for a user
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    # Threads that spin between operations take a core from whatever else runs (tagger.use.workers).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own types for a file it cannot read
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ArtifactError(f"{model_dir / ONNX_FILE}: cannot load the network ({reason}); export the model "
                            "again") from None
    transitions = _transitions(model_dir, config, settings, dimensions.tag_count)
    return ExportedNetwork(session, settings, dimensions, transitions)


def _transitions(model_dir: Path, config: dict, settings: ModelConfig, tags: int) -> Transitions | None:
    if settings.decoder != "crf":
        return None
    try:
        learnt = config["transitions"]
        transitions = Transitions(*(np.array(learnt[name], dtype=np.float64) for name in ("start", "pairs", "end")))
        well_formed = (transitions.start.shape, transitions.pairs.shape, transitions.end.shape) == \
            ((tags,), (tags, tags), (tags,))
    except (KeyError, TypeError, ValueError):
        well_formed = False
    if not well_formed:
        raise ArtifactError(f"{model_dir / CONFIG_FILE}: the CRF's transitions are missing or malformed; export the "
                            "model again")
    return transitions
