"""`tagger export`: a torch model directory rewritten as one that runs on ONNX Runtime, without torch.

The network (word and character features, the Bi-LSTM, the classifier) becomes `model.onnx`,
built node by node from the weights with ONNX's own operators, so that nothing depends on
how torch traces a model: its batch, sentence, form and character axes are all dynamic, and
ONNX's LSTM reads each sentence to its own length in both directions, as the packed
Bi-LSTM does. The vocabularies and the training summary are copied as they are; the CRF's
transitions go into config.json as data, since decoding (`tagger.model.decoding`) is numpy's on
both paths. Before the directory counts as written, it is loaded and must give the torch
model's logits on a probe batch.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tagger.core import files
from tagger.core.config import Dimensions, ModelConfig, package_version
from tagger.core.errors import ArtifactError, TaggerError
from tagger.model.artifact import WORD_SCALES, read_weights
from tagger.model.compact import NIBBLE_OFFSET
from tagger.model.encoding import PAD_ID, Encoder
from tagger.model.modeldir import (CONFIG_FILE, EXPORTED, FORMAT_VERSION, ONNX_FILE, TRAINING_FILE, VOCAB_FILE,
                                   load_model)
from tagger.model.network import BiLSTMTagger

OPSET = 17
LOGITS_TOLERANCE = 1e-4  # the exported network's logits against torch's, on the probe batch
# torch's LSTM gates come as input, forget, cell, output; ONNX's as input, output, forget, cell.
ONNX_GATE_ORDER = [0, 3, 1, 2]


def export(model_dir: Path, target: Path) -> None:
    """Write the model in `model_dir` to the new directory `target` as an ONNX model."""
    target = Path(target)
    check_target(target, Path(model_dir))
    try:
        import onnx  # noqa: F401  (only to say what is missing before any work)
    except ImportError:
        raise TaggerError("tagger export needs the onnx package: pip install onnx onnxruntime (or "
                          "pip install 'tagger[onnx]')") from None
    saved = load_model(model_dir, "cpu")
    if saved.config.get("network") == EXPORTED:
        raise TaggerError(f"{model_dir}: already exported to ONNX; export the torch model it came from")
    if saved.features is not None:
        raise TaggerError(f"{model_dir}: reads a transformer's features, which tagger export does not convert; "
                          "run it with torch (tagger predict), or export a model trained without --transformer")
    model: BiLSTMTagger = saved.model
    stored = {name: tensor.numpy() for name, tensor in read_weights(Path(model_dir), saved.config).items()}
    content = network_graph(stored, model.config, model.dimensions).SerializeToString()
    learnt = None if model.crf is None else model.crf.transitions()
    transitions = learnt and {"start": learnt.start.tolist(), "pairs": learnt.pairs.tolist(),
                              "end": learnt.end.tolist()}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        staging.chmod(0o777 & ~files.umask())  # mkdtemp makes it private; a model directory should not be
        files.write_bytes(staging / ONNX_FILE, content)
        vocabulary = files.write_json_gz(staging / VOCAB_FILE, saved.encoder.to_dict())
        if saved.training:
            files.write_json(staging / TRAINING_FILE, saved.training)
        files.write_json(staging / CONFIG_FILE, {
            "format_version": FORMAT_VERSION, "tagger_version": package_version(), "network": EXPORTED,
            "model": asdict(model.config), "dimensions": asdict(model.dimensions), "transitions": transitions,
            "onnx_sha256": hashlib.sha256(content).hexdigest(), "vocab_sha256": hashlib.sha256(vocabulary).hexdigest(),
            "exported_from": str(Path(model_dir).absolute())})
        _check_logits(model, saved.encoder, staging)
        os.rename(staging, target)
    except OSError as error:
        raise ArtifactError(f"{target}: could not write the exported model ({error.strerror or error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_target(target: Path, model_dir: Path) -> None:
    """Refuse, before any work, a `--to` that exists, that is inside the model directory (which
    holds only what tagger writes there), or whose folder cannot take a new directory."""
    if target.resolve().is_relative_to(model_dir.resolve()):
        raise TaggerError(f"{target}: inside the model directory {model_dir}; export beside it, e.g. --to "
                          f"{shlex.quote(str(model_dir).rstrip('/') + '-onnx')}")
    if target.exists() or target.is_symlink():
        kind = "a file" if target.is_file() else "a directory" if target.is_dir() else \
            "a link to nothing" if not target.exists() else "there"
        raise TaggerError(f"{target}: exists ({kind}); export writes a new directory: give --to a path that does "
                          "not exist yet")
    existing = next(directory for directory in target.parents if directory.exists())
    if not existing.is_dir():
        raise TaggerError(f"{target}: cannot create it, {existing} is a file; choose another --to")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=existing))
    except OSError as error:
        raise TaggerError(f"{target}: cannot write in {existing} ({error.strerror or error}); make it writable or "
                          "choose another --to") from None


def network_graph(stored: dict[str, np.ndarray], config: ModelConfig, dimensions: Dimensions):
    """The network as an ONNX graph, (word_ids, token_forms, char_ids, lengths) -> logits, from its
    weights as weights.pt stores them: read back with the same arithmetic as the torch model's."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, initialisers = [], []

    def constant(name: str, value) -> str:
        initialisers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(operator: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(operator, inputs, [output], name=output, **attributes))
        return output

    def floats(name: str, values: np.ndarray) -> str:
        """`values` as float32, kept in the file as stored (half precision is cast when loaded)."""
        if values.dtype == np.float16:
            return node("Cast", [constant(f"{name}_stored", values)], name, to=TensorProto.FLOAT)
        return constant(name, values.astype(np.float32))

    def scaled(values: str, scales: str, name: str) -> str:
        return node("Mul", [node("Cast", [values], f"{name}_values", to=TensorProto.FLOAT),
                            node("Unsqueeze", [scales, constant(f"{name}_axis", np.array([-1]))], f"{name}_scales")],
                    name)

    trained = dimensions.word_count - dimensions.frozen_words
    # Words: a row of the trained table, or of the frozen one for pretrained words unseen in training.
    trained_ids = node("Min", ["word_ids", constant("last_trained", np.int64(trained - 1))], "trained_ids")
    if WORD_SCALES in stored:
        words = scaled(node("Gather", [constant("word_codes", stored["word_embedding.weight"]), trained_ids],
                            "trained_codes"),
                       node("Gather", [constant("word_scales", stored[WORD_SCALES]), trained_ids], "trained_scales"),
                       "trained_vectors")
    else:
        words = node("Gather", [floats("word_embedding", stored["word_embedding.weight"]), trained_ids],
                     "trained_vectors")
    if dimensions.frozen_words:
        frozen_ids = node("Max", [node("Sub", ["word_ids", constant("trained_count", np.int64(trained))], "shifted"),
                                  constant("zero", np.int64(0))], "frozen_ids")
        if dimensions.frozen_bits == 4:
            codes = node("Cast", [node("Gather", [constant("frozen_codes", stored["frozen_codes"]), frozen_ids],
                                       "frozen_bytes")], "frozen_ints", to=TensorProto.INT32)
            high = node("Div", [codes, constant("sixteen", np.int32(16))], "frozen_high")
            low = node("Sub", [codes, node("Mul", [high, "sixteen"], "frozen_high_bits")], "frozen_low")
            pairs = node("Concat", [node("Unsqueeze", [low, constant("pair_axis", np.array([-1]))], "frozen_even"),
                                    node("Unsqueeze", [high, "pair_axis"], "frozen_odd")], "frozen_pairs", axis=-1)
            values = node("Reshape", [pairs, constant("frozen_shape", np.array([0, 0, -1]))], "frozen_packed_values")
            values = node("Slice", [values, constant("frozen_from", np.array([0])),
                                    constant("frozen_to", np.array([dimensions.word_dim])),
                                    constant("frozen_axes", np.array([-1]))], "frozen_values")
            offset = node("Sub", [node("Cast", [values], "frozen_floats", to=TensorProto.FLOAT),
                                  constant("nibble_offset", np.float32(NIBBLE_OFFSET))], "frozen_levels")
            rows_scales = node("Cast", [node("Gather", [constant("frozen_scales", stored["frozen_scales"]), frozen_ids],
                                             "frozen_half_scales")], "frozen_row_scales", to=TensorProto.FLOAT)
            frozen = node("Mul", [offset, node("Unsqueeze", [rows_scales, "pair_axis"], "frozen_scales_last")],
                          "frozen_vectors_float")
        else:
            frozen = node("Cast", [node("Gather", [constant("frozen_vectors", stored["frozen_vectors"]), frozen_ids],
                                        "frozen_rows")], "frozen_vectors_float", to=TensorProto.FLOAT)
        is_trained = node("Unsqueeze", [node("Less", ["word_ids", "trained_count"], "is_trained_word"),
                                        constant("last_axis", np.array([-1]))], "is_trained")
        words = node("Where", [is_trained, words, frozen], "word_vectors")
    # Characters: the CNN over each form's characters, max over the real ones (padding never wins).
    embedded = node("Transpose", [node("Gather", [floats("char_embedding", stored["char_embedding.weight"]),
                                                  "char_ids"], "char_vectors")], "char_channels", perm=[0, 2, 1])
    convolved = node("Conv", [embedded, floats("char_cnn_weight", stored["char_cnn.weight"]),
                              floats("char_cnn_bias", stored["char_cnn.bias"])], "char_convolved",
                     pads=[config.char_kernel // 2] * 2)
    padding = node("Unsqueeze", [node("Equal", ["char_ids", constant("pad_id", np.int64(PAD_ID))], "char_is_pad"),
                                 constant("channel_axis", np.array([1]))], "char_padding")
    masked = node("Where", [padding, constant("minus_infinity", np.float32(-np.inf)), convolved], "char_masked")
    forms = node("ReduceMax", [masked], "form_features", axes=[2], keepdims=0)
    chars = node("Gather", [forms, "token_forms"], "char_features")
    states = node("Transpose", [node("Concat", [words, chars], "token_vectors", axis=-1)], "time_major",
                  perm=[1, 0, 2])  # (seq, batch, input)
    lengths = node("Cast", ["lengths"], "sequence_lengths", to=TensorProto.INT32)
    hidden = config.hidden_size
    for layer in range(config.lstm_layers):
        directions = [stored[f"lstm.{name}_l{layer}{suffix}"]
                      for suffix in ("", "_reverse") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

        def gates(array: np.ndarray) -> np.ndarray:
            return np.concatenate([array[index * hidden:(index + 1) * hidden] for index in ONNX_GATE_ORDER])

        w = np.stack([gates(directions[0]), gates(directions[4])])
        r = np.stack([gates(directions[1]), gates(directions[5])])
        b = np.stack([np.concatenate([gates(directions[2]), gates(directions[3])]),
                      np.concatenate([gates(directions[6]), gates(directions[7])])])
        output = node("LSTM", [states, floats(f"lstm_w_{layer}", w), floats(f"lstm_r_{layer}", r),
                               floats(f"lstm_b_{layer}", b), lengths], f"lstm_{layer}", direction="bidirectional",
                      hidden_size=hidden)  # (seq, directions, batch, hidden)
        if layer + 1 < config.lstm_layers:
            states = node("Reshape", [node("Transpose", [output], f"lstm_{layer}_by_time", perm=[0, 2, 1, 3]),
                                      constant(f"lstm_{layer}_shape", np.array([0, 0, -1]))], f"lstm_{layer}_states")
    states = node("Reshape", [node("Transpose", [output], "batch_major", perm=[2, 0, 1, 3]),
                              constant("states_shape", np.array([0, 0, -1]))], "states")  # (batch, seq, 2*hidden)
    node("Add", [node("MatMul", [states, floats("classifier_weight", stored["classifier.weight"].T)], "classified"),
                 floats("classifier_bias", stored["classifier.bias"])], "logits")

    def dynamic(name: str, element: int, axes: list[str]):
        return helper.make_tensor_value_info(name, element, axes)

    graph = helper.make_graph(
        nodes, "tagger", [dynamic("word_ids", TensorProto.INT64, ["batch", "seq"]),
                          dynamic("token_forms", TensorProto.INT64, ["batch", "seq"]),
                          dynamic("char_ids", TensorProto.INT64, ["forms", "chars"]),
                          dynamic("lengths", TensorProto.INT64, ["batch"])],
        [dynamic("logits", TensorProto.FLOAT, ["batch", "seq", dimensions.tag_count])], initialisers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tagger")


def probe_sentences(encoder: Encoder) -> list[list[str]]:
    """Sentences of several lengths from the model's own words, with an unknown word and a long one."""
    words = [word for word in encoder.words.items[2:60]] or ["word"]
    sentences = [words[start:start + length] for start, length in ((0, 7), (7, 1), (8, 23), (31, 4))]
    sentences = [sentence for sentence in sentences if sentence]
    return sentences + [["Zxq-unknown-token", "a" * 45, *words[:3]]]


def _check_logits(model: BiLSTMTagger, encoder: Encoder, directory: Path) -> None:
    batch = encoder.encode(probe_sentences(encoder))
    expected, _ = model.scores(batch)
    found, _ = load_model(directory, "cpu").model.scores(batch)
    inside = np.arange(batch.word_ids.shape[1])[None, :] < batch.lengths[:, None]
    difference = float(np.abs(found - expected)[inside].max())
    if difference > LOGITS_TOLERANCE:
        raise ArtifactError(f"the exported network's logits differ from the model's by {difference:.2g} on a probe "
                            f"batch (more than {LOGITS_TOLERANCE}); nothing was written; please report this")
