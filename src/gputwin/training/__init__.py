"""Job progress: run time and energy of a job on its placement (via the perf models)."""

from gputwin.training.runtime import RunPlan, TrainingRuntime
from gputwin.training.startup import load_time_s, weights_bytes

__all__ = ["RunPlan", "TrainingRuntime", "load_time_s", "weights_bytes"]
