"""Model directories and checkpoints of format 1, the first tagger wrote, read as format 2 has them."""

from __future__ import annotations

from dataclasses import fields

from tagger.core.config import ModelConfig

# What format 1 kept in config.json beside the network and the training summary.
FORMAT_1_FIELDS = {"format_version", "tagger_version", "model", "tags", "vocabulary_sizes", "weights_sha256"}


def config_as_format_2(config: dict) -> tuple[dict, dict]:
    """A format 1 config.json as format 2's config and training summary: the network's
    settings and its sizes were one flat `model` object, the summary sat beside it."""
    flat = dict(config["model"])
    settings = {field.name: flat.pop(field.name) for field in fields(ModelConfig) if field.name in flat}
    training = {key: value for key, value in config.items() if key not in FORMAT_1_FIELDS}
    return {**config, "model": settings, "dimensions": flat}, training


def checkpoint_as_format_2(checkpoint: dict) -> dict:
    """A format 1 checkpoint as format 2 has it: the training options held the model's settings
    and the run-time options flat, and the position its best F1 beside the best dev metrics."""
    options = dict(checkpoint["config"])
    model = {field.name: options.pop(field.name) for field in fields(ModelConfig) if field.name in options}
    for runtime_option in ("device", "precision", "timeout"):
        options.pop(runtime_option, None)
    position = {key: value for key, value in checkpoint["position"].items() if key != "best_f1"}
    return {**checkpoint, "config": {**options, "model": model}, "position": position}
