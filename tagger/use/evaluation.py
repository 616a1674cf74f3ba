"""The back end of `tagger eval`: a saved model scored on a split of labelled data, with the
breakdown of its errors if asked. Training scores dev with `tagger.use.metrics.evaluate`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tagger.data import corpus
from tagger.data.sources import Source
from tagger.model.modeldir import load_model, training_settings
from tagger.use.error_analysis import ErrorReport, analyse
from tagger.use.metrics import Metrics, entity_metrics
from tagger.use.predict import Tagger, tag_in_batches


@dataclass(frozen=True)
class Evaluation:
    metrics: Metrics
    sentences: int
    tokens: int
    seconds: float
    split: str | None  # the split scored; None for a source that is one split
    unseen_types: list[str]  # gold entity types the model was never trained on: they can only be missed
    errors: ErrorReport | None = None
    trained_on: bool = False  # the split is the dev split the model trained on (--train-with-dev)

    def to_dict(self) -> dict:
        errors = {} if self.errors is None else {"errors": self.errors.to_dict()}
        return {**self.metrics.to_dict(), "sentences": self.sentences, "tokens": self.tokens,
                "seconds": self.seconds, "split": self.split, "unseen_types": self.unseen_types,
                "trained_on": self.trained_on, **errors}


def evaluate_saved(model_dir: Path, source: str | Source, split: str | None = None, device_name: str = "auto",
                   with_errors: bool = False, processes: int = 1) -> Evaluation:
    """Evaluate the model saved in `model_dir` on one split of `source` (test unless named; a
    source that is one file is its own split), with the breakdown of its errors if asked,
    tagging on `processes` worker processes."""
    saved = load_model(model_dir, device_name)
    tagger = Tagger(saved.model, saved.encoder, Path(model_dir), saved.features)
    dataset, split = corpus.load_split(source, split)
    trained_on = (split == "validation" and training_settings(saved.training).get("train_with_dev", False)
                  and saved.training.get("data") == Source.of(source).located().to_dict())
    sentences, gold = dataset["tokens"], corpus.tag_sequences(dataset)
    started = time.perf_counter()
    predicted = [tagged.tags for _, [tagged] in tag_in_batches(tagger, sentences, lambda tokens: [tokens],
                                                               processes=processes, with_probabilities=False)]
    seconds = time.perf_counter() - started
    errors = analyse(sentences, gold, predicted) if with_errors else None
    known = {tag[2:] for tag in tagger.encoder.tags.items}
    unseen = sorted({tag[2:] for tags in gold for tag in tags if tag != "O"} - known)
    return Evaluation(entity_metrics(gold, predicted), len(sentences), sum(map(len, sentences)), seconds, split,
                      unseen, errors, trained_on)
