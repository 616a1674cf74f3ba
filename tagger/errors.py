"""The exceptions the library raises for problems a user can fix; the CLI prints them."""


class TaggerError(Exception):
    """A problem with the user's input, data or model: the message says what and what to do."""


class DataError(TaggerError):
    """Training or evaluation data that cannot be read."""


class ArtifactError(TaggerError):
    """A model directory that is missing, incomplete or corrupt."""
