"""Workloads: job specs, synthetic generators, trace readers (one module per format)."""

from gputwin.workload.job import JobSpec
from gputwin.workload.philly_csv import read_philly_csv
from gputwin.workload.synthetic import ArrivalSpec, JobTemplate, arrival_times, generate_synthetic

__all__ = [
    "ArrivalSpec",
    "JobSpec",
    "JobTemplate",
    "arrival_times",
    "generate_synthetic",
    "read_philly_csv",
]
