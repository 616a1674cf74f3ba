"""A finished model carried to new data (TrainConfig.init_from, --init-from): the new run starts
from its weights. Words, characters and entity types new to it join its vocabularies, each
with a fresh row (a word with its pretrained vector where there is one), and every row it
had keeps what it learnt; its tag scheme stays, and the new data is read in it. The
network's design is the model's: a setting that would change its shape is refused."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from tagger.core.config import TRANSFORMER_SETTINGS, ModelConfig, TrainConfig, setting
from tagger.core.entities import is_bioes, to_scheme
from tagger.core.errors import ArtifactError, SettingError
from tagger.data import corpus
from tagger.model import embeddings, modeldir
from tagger.model.encoding import Encoder, TrainingText, Vocabulary
from tagger.model.network import BiLSTMTagger
from tagger.model.transformer import TransformerFeatures

# The settings of the network's design that set the shape of its weights, or what they read.
SHAPE_FIELDS = ("decoder", "hidden_size", "lstm_layers", "char_dim", "char_filters", "char_kernel",
                "transformer_layers", "subword_pooling")


def with_design_of(config: TrainConfig, given: Collection[str] = ()) -> TrainConfig:
    """`config` with the network design of the model it starts from (`config.init_from`), and its
    transformer; a setting of the design that differs from the model's is refused, naming each,
    if it is among those `given` (by field name) or differs from the default. Reads the model's
    JSON only: checked before any data is read."""
    model_dir = Path(config.init_from)
    if model_dir.is_file() or not modeldir.has_model(model_dir):
        kind = "a file" if model_dir.is_file() else "no such directory" if not model_dir.exists() \
            else "holds no finished model"
        raise ArtifactError(f"{model_dir}: {kind}; {setting('init_from')} takes the directory of a model tagger "
                            "trained")
    if modeldir.has_checkpoint(model_dir):
        raise ArtifactError(f"{model_dir}: its run is unfinished; finish it with `tagger train --model "
                            f"{shlex.quote(str(model_dir))} --resume`, or start from another model")
    if modeldir.is_exported(model_dir):
        raise ArtifactError(f"{model_dir}: a model exported to ONNX, which cannot train; start from the torch model "
                            "it was exported from")
    saved_config = modeldir.read_json(model_dir / modeldir.CONFIG_FILE)
    try:
        design = ModelConfig(**saved_config["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"{model_dir / modeldir.CONFIG_FILE}: the model settings are missing or wrong ({error}); "
                            "start from another model") from None
    training = modeldir.read_json(model_dir / modeldir.TRAINING_FILE) \
        if (model_dir / modeldir.TRAINING_FILE).is_file() else {}
    transformer = modeldir.training_settings(training).get("transformer")
    has_transformer = bool(saved_config.get("dimensions", {}).get("feature_dim"))
    default, chosen = ModelConfig(), config.model

    def models(name: str) -> object:  # the model's value of a setting, or that it has none
        return "none, it reads no transformer" if name in TRANSFORMER_SETTINGS and not has_transformer \
            else getattr(design, name)

    unlike = [f"{setting(name)} {getattr(chosen, name)} (the model's: {models(name)})" for name in SHAPE_FIELDS
              if (name in given or getattr(chosen, name) != getattr(default, name))
              and getattr(chosen, name) != models(name)]
    if config.transformer is not None and (not has_transformer or config.transformer != transformer):
        unlike.append(f"{setting('transformer')} {config.transformer} (the model's: "
                      f"{transformer if has_transformer else 'none'})")
    if unlike:
        raise SettingError(f"{model_dir}: {', '.join(unlike)}: the model trained further keeps its network's shape; "
                           "leave these out")
    # New words get vectors of the kind the model's have, unless other vectors are named.
    vectors = config.embeddings if "embeddings" in given or config.embeddings != TrainConfig.embeddings else \
        modeldir.training_settings(training).get("embeddings", config.embeddings)
    return replace(config, model=replace(design, dropout=chosen.dropout, word_dropout=chosen.word_dropout),
                   transformer=transformer if has_transformer else None, embeddings=vectors)


class Respelled:
    """Training sentences with their tags spelled in another scheme (BIOES or IOB2): the scheme
    of the model they train further."""

    def __init__(self, sentences: corpus.TrainingSentences, bioes: bool):
        self.sentences, self.bioes, self.lengths = sentences, bioes, sentences.lengths
        types = sorted({tag[2:] for tag in sentences.tag_names if tag != "O"})
        prefixes = ("B-", "I-", "E-", "S-") if bioes else ("B-", "I-")
        self.tag_names = ["O", *(prefix + kind for kind in types for prefix in prefixes)]

    def __len__(self) -> int:
        return len(self.sentences)

    def take(self, indices: Sequence[int]) -> tuple[list[list[str]], list[list[str]]]:
        tokens, tags = self.sentences.take(indices)
        return tokens, [to_scheme(sentence, self.bioes) for sentence in tags]

    def tokens(self) -> Iterator[list[str]]:
        return self.sentences.tokens()


def extended_model(config: TrainConfig, sentences: corpus.TrainingSentences, model_dir: Path
                   ) -> tuple[BiLSTMTagger, Encoder, TransformerFeatures | None, float | None,
                              corpus.TrainingSentences | Respelled]:
    """The model of `config.init_from` with the words, characters and entity types of
    `sentences` added, the transformer it reads, the share of training tokens that have a
    vector from the model or the pretrained ones, and the sentences with their tags in the
    model's scheme. `model_dir` is `config.init_from`, or for a resumed run the model it saved,
    which holds the same words and tags."""
    if not modeldir.has_model(model_dir):
        raise ArtifactError(f"{model_dir}: the model this run started from (--init-from) is gone; restore it to "
                            "resume the run, or start again with --overwrite")
    saved = modeldir.load_model(model_dir, "cpu")
    old: BiLSTMTagger = saved.model
    pretrained = embeddings.load_vectors(config.embeddings)
    if pretrained is not None and pretrained.dim != old.dimensions.word_dim:
        raise SettingError(f"{setting('embeddings')} {config.embeddings}: vectors of {pretrained.dim} dimensions, "
                           f"and the model of {model_dir} has words of {old.dimensions.word_dim}; give vectors of "
                           f"{old.dimensions.word_dim}, or none")
    bioes = is_bioes(saved.encoder.tags.items)
    if is_bioes(sentences.tag_names) != bioes:
        sentences = Respelled(sentences, bioes)
    text = TrainingText.count(sentences.tokens())
    words = _words(saved.encoder.words, old.trained_words, text)
    chars = Vocabulary([*saved.encoder.chars.items, *text.chars])
    tags = Vocabulary([*saved.encoder.tags.items, *sentences.tag_names], unknown=False)
    encoder = Encoder(words, chars, tags)
    trained = words.sorted_from
    dimensions = replace(old.dimensions, word_count=len(words), char_count=len(chars), tag_count=len(tags),
                         frozen_words=len(words) - trained)
    model = BiLSTMTagger(config.model, dimensions)
    state, learnt = model.state_dict(), old.state_dict()
    for name, tensor in learnt.items():
        if state[name].shape == tensor.shape:
            state[name] = tensor.clone()
    # Rows of the vocabularies the model had come first, and keep what they learnt.
    old_tag_count = len(saved.encoder.tags)
    for name, rows in (("char_embedding.weight", len(saved.encoder.chars)), ("classifier.weight", old_tag_count),
                       ("classifier.bias", old_tag_count), ("crf.start", old_tag_count), ("crf.end", old_tag_count)):
        if name in state:
            state[name][:rows] = learnt[name]
    if "crf.pairs" in state:
        state["crf.pairs"][:old_tag_count, :old_tag_count] = learnt["crf.pairs"]
    old_ids = {word: number for number, word in enumerate(saved.encoder.words.items)}
    row_of = {} if pretrained is None else {word: row for row, word in enumerate(pretrained.words)}
    vectors = state["word_embedding.weight"]
    kept = [(row, old_ids[word]) for row, word in enumerate(words.items[:trained]) if word in old_ids]
    with torch.inference_mode():  # a word the model kept frozen and the data trains starts from its frozen vector
        vectors[[row for row, _ in kept]] = old.word_vectors(torch.tensor([number for _, number in kept]))
    for row, word in enumerate(words.items[:trained]):
        if word not in old_ids and word in row_of:
            vectors[row] = torch.from_numpy(pretrained.vectors[row_of[word]])
    frozen_rows = [old_ids[word] - old.trained_words for word in words.items[trained:]]
    for name in ("frozen_codes", "frozen_scales", "frozen_vectors"):
        if name in state:
            state[name] = learnt[name][frozen_rows].clone()
    model.load_state_dict(state)
    features = saved.features
    if features is not None:
        features.model.float()  # trained on the features float32 gives, whatever tagging chose
        features.remembering()
    covered = sum(count for word, count in text.word_counts.items() if word in old_ids or word in row_of)
    return model, encoder, features, covered / max(1, text.word_counts.total()), sentences


def _words(old: Vocabulary, old_trained: int, text: TrainingText) -> Vocabulary:
    """The model's trained words, then the training text's new ones, all trained; then the
    model's frozen words that are still not trained words."""
    trained = list(dict.fromkeys([*old.items[:old_trained], *text.word_counts]))
    frozen = sorted(set(old.items[old_trained:]).difference(trained))
    return Vocabulary([*trained, *frozen], sorted_from=len(trained))
