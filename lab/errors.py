"""Errors a person can fix: each carries one sentence that the page shows and the CLI prints."""


class LabError(Exception):
    """A problem with the user's input or environment, described in one sentence."""


class DataError(LabError):
    """A dataset that cannot be read or has the wrong shape."""


class ModelError(LabError):
    """A model reference that cannot be resolved or loaded."""


class FormatError(LabError):
    """A conversation that a format cannot render."""


class TrainingFailed(LabError):
    """A run that cannot go on (NaN loss, out of memory); the sentence says what to change."""
