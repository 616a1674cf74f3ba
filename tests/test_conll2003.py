"""Learning for real: 1,500 CoNLL-2003 training sentences, a few epochs, scored on the full dev set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagger.core.config import Runtime, TrainConfig
from tagger.train.records import Epoch, Finished
from tagger.train.run import train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "train.txt").is_file(), reason=f"CoNLL-2003 not found at {SHARED}")
def test_learns_conll2003_from_1500_sentences(tmp_path):
    blocks = (SHARED / "train.txt").read_text(encoding="utf-8").split("\n\n")
    corpus = tmp_path / "conll"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n\n".join(blocks[:1500]) + "\n", encoding="utf-8")
    (corpus / "valid.txt").symlink_to(SHARED / "valid.txt")
    records = list(train(TrainConfig(epochs=4), str(corpus), tmp_path / "model", Runtime(device="cpu")))
    epochs = [r for r in records if isinstance(r, Epoch)]
    finished = records[-1]
    assert isinstance(finished, Finished) and finished.test is None
    assert max(e.dev.f1 for e in epochs) == finished.dev.f1 > 0.6
