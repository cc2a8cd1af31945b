"""Evaluation toolkit: benchmark readers, OPE / VOT supervised / VOT long-term protocols,
metrics, ``report.json``, Markdown summaries and plots.

Typical use goes through the console scripts ``dasiamrpn-eval`` and ``dasiamrpn-report``
(see ``docs/evaluation.md``); the pieces are importable for scripts:

>>> from dasiamrpn_core.evaluation import load_dataset, evaluate, EvalRequest, TrackerSpec
"""
from .config import EvalConfig, LongTermConfig, OPEConfig, SupervisedConfig
from .datasets import DATASETS, load_dataset
from .errors import AnnotationError, DatasetError, ResultsError
from .evaluate import EvalRequest, evaluate
from .runner import TrackerSpec, run_ope, run_supervised
from .sequence import Sequence

__all__ = ["EvalConfig", "OPEConfig", "SupervisedConfig", "LongTermConfig", "DATASETS", "load_dataset",
           "AnnotationError", "DatasetError", "ResultsError", "EvalRequest", "evaluate", "TrackerSpec",
           "run_ope", "run_supervised", "Sequence"]
