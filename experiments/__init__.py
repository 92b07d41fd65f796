"""Pure experiment domain: definitions, validation, allocation, hashing, assignment.

No I/O and no Kafka, Faust or ClickHouse imports: the SDK and the workers share it.
"""

from experiments.allocation import Allocation, AllocationChange, VariantMoves, allocate
from experiments.client import ExperimentClient, ExposureRecord, UserContext
from experiments.errors import ConfigError, Problem
from experiments.hashing import BUCKETS, HASH_VERSION, bucket
from experiments.loading import load_config_file, load_config_text
from experiments.model import (
    Config,
    Experiment,
    Holdout,
    Layer,
    Metric,
    MetricKind,
    Phase,
    RatioPart,
    Status,
    Variant,
)
from experiments.parsing import config_document, experiment_document, parse_config
from experiments.snapshot import Assignment, ConfigSnapshot, Reason, assign, assign_all

__all__ = [
    "BUCKETS", "HASH_VERSION", "Allocation", "AllocationChange", "Assignment", "Config",
    "ConfigError", "ConfigSnapshot", "Experiment", "ExperimentClient", "ExposureRecord",
    "Holdout", "Layer", "Metric", "MetricKind", "Phase", "Problem", "RatioPart", "Reason",
    "Status", "UserContext", "Variant", "VariantMoves", "allocate", "assign", "assign_all",
    "bucket", "config_document", "experiment_document", "load_config_file", "load_config_text",
    "parse_config",
]
