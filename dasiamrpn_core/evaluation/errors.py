"""Errors of the evaluation toolkit; every message names the file (and line) at fault."""
from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset that cannot be used as asked: a benchmark folder that is not the requested layout, a
    training dataset that is missing, empty or malformed. The message names the problem. (The one
    DatasetError of the project: evaluation and training raise this class.)"""


class AnnotationError(DatasetError):
    """A malformed annotation or label file: the message says ``file:line: problem``."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")


class ResultsError(ValueError):
    """A results folder that does not match the dataset or the run settings."""
