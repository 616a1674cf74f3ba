"""The command line: options in, values out, messages and exit codes. Each command's module
registers it on `app` as it is imported."""

from tagger.cli import train, use  # noqa: F401  (registers the commands)
from tagger.cli.app import app, run

__all__ = ["app", "run"]
