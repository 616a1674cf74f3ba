"""The model directory of one training run, owned by the run from start to finish: opened for a
new run or a resumed one, it keeps each best model, the checkpoint after every epoch, and at
the end the test metrics, through `tagger.model.artifact`'s atomic writes.

Only the main process of a run reads and writes the directory; the others hold a view of it
that writes nothing, with the checkpoint the main one read.
"""

from __future__ import annotations

from pathlib import Path

from tagger.core.config import TrainConfig
from tagger.core.errors import ArtifactError
from tagger.data.sources import Source
from tagger.model import artifact, modeldir
from tagger.model.encoding import Encoder
from tagger.model.network import BiLSTMTagger
from tagger.model.transformer import TransformerFeatures


class RunDirectory:
    """A run's model directory: what the run resumes from (`checkpoint`), and where it saves."""

    def __init__(self, path: Path, checkpoint: dict | None = None, writes: bool = True):
        self.path = Path(path)
        self.checkpoint = checkpoint  # the run's state where it stopped, when resuming; read once
        self.writes = writes

    @classmethod
    def create(cls, path: Path, overwrite: bool) -> RunDirectory:
        """The directory of a new run, checked writable; a model or an unfinished run already
        there is replaced only with `overwrite` (tagger.model.artifact.prepare_model_dir)."""
        artifact.recover_interrupted_save(path)  # a crash mid-save may have left the directory aside
        artifact.prepare_model_dir(path, overwrite)
        return cls(path)

    @classmethod
    def reopen(cls, path: Path) -> RunDirectory:
        """The directory of an unfinished run, its checkpoint read, checked writable."""
        artifact.recover_interrupted_save(path)
        if modeldir.is_exported(path):
            raise ArtifactError(f"{path}: holds a model exported to ONNX, which tags text but cannot train; resume "
                                "the run of the torch model it was exported from (its config.json names it)")
        checkpoint = artifact.load_checkpoint(path)
        if checkpoint is None:
            if modeldir.has_model(path):
                raise ArtifactError(f"{path}: holds a finished model, no run to resume; train without --resume and "
                                    "with --overwrite to replace it with a new run")
            raise ArtifactError(f"{path}: has no run to resume; train without --resume to start a new run")
        artifact.check_writable(path)
        return cls(path, checkpoint)

    def started_with(self) -> tuple[TrainConfig, Source]:
        """The settings and data the resumed run started with."""
        return TrainConfig.from_dict(self.checkpoint["config"]), Source.of(self.checkpoint["data"])

    def has_model(self) -> bool:
        return modeldir.has_model(self.path)

    def save_model(self, model: BiLSTMTagger, encoder: Encoder, training: dict,
                   features: TransformerFeatures | None = None) -> None:
        """Keep `model` as the run's best, with `training` (tagger.model.modeldir.TRAINING_FILE) and
        the transformer whose `features` it reads."""
        if self.writes:
            artifact.save_model(self.path, model, encoder, training, features)

    def save_checkpoint(self, checkpoint: dict) -> None:
        if self.writes:
            artifact.save_checkpoint(self.path, checkpoint)

    def finish(self, test: dict | None) -> None:
        """The run is over: its model's test metrics recorded (when there are any), its
        checkpoint removed."""
        if not self.writes:
            return
        if test is not None:
            artifact.update_training(self.path, test=test)
        artifact.remove_checkpoint(self.path)
