"""The command line: options in, values out, messages and exit codes."""

from tagger.cli.app import app, run

__all__ = ["app", "run"]
