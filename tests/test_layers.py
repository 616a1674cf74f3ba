"""The package's layers, and the directions their imports may run: a module imports from its
own layer and from those its layer lists, never upward, whether at the top of the file or
inside a function. The README's layer table says the same."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tagger"
MAY_IMPORT = {
    "core": set(),
    "data": {"core"},
    "model": {"core"},
    "use": {"core", "data", "model"},
    "train": {"core", "data", "model", "use"},
    "cli": {"core", "data", "model", "use", "train"},
}


def imported_layers(source: str) -> set[tuple[str, int]]:
    """The tagger layers a module's source imports, with the line of each import."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "tagger" else [f"tagger.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tagger" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def arrows_against_the_layers(layer: str, source: str) -> list[str]:
    """Each import in `source`, a module of `layer`, that its layer may not make."""
    allowed = MAY_IMPORT[layer] | {layer}
    return [f"line {line}: {layer} imports {target}" for target, line in sorted(imported_layers(source))
            if target not in allowed]


def test_every_module_lies_in_a_layer():
    strays = [path.name for path in PACKAGE.glob("*.py") if path.name not in ("__init__.py", "__main__.py")]
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").is_file()}
    assert strays == [] and folders == set(MAY_IMPORT)


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*/*.py")), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_imports_run_down_the_layers(path):
    assert arrows_against_the_layers(path.parent.name, path.read_text(encoding="utf-8")) == []


def test_an_import_against_the_layers_is_caught():
    """The check itself: an upward arrow, at the top or inside a function, is found."""
    assert arrows_against_the_layers("model", "from tagger.model import crf\nfrom tagger.core.errors import "
                                               "TaggerError\n") == []
    assert arrows_against_the_layers("model", "from tagger.use.predict import Tagger\n") == \
        ["line 1: model imports use"]
    assert arrows_against_the_layers("core", "def f():\n    from tagger.train import run\n") == \
        ["line 2: core imports train"]
    assert arrows_against_the_layers("data", "import tagger.model.network\n") == ["line 1: data imports model"]
    assert arrows_against_the_layers("use", "from tagger import cli\n") == ["line 1: use imports cli"]


def _loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_the_display_needs_no_torch_and_the_loop_no_data_or_model_directory():
    """Drawing a run's table imports neither torch nor the training code; the training loop
    reads no data files and writes no model directory: the run that drives it does both."""
    assert _loaded_by("tagger.cli.render") & {"torch", "datasets", "tagger.train.loop", "tagger.train.run"} == set()
    assert _loaded_by("tagger.train.loop") & {"datasets", "tagger.data.corpus", "tagger.model.artifact"} == set()
