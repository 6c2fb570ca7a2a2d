"""The bounds policy: how large a size gputwin accepts, checked before any allocation.

Every count that sizes memory or run time (requests, jobs, GPUs, replicas, nodes) has one
limit here. A value above it is refused when the input is validated — before anything is
generated or allocated — with a message that names the limit and why it exists, e.g.
``num_requests: got 1,000,000,000,000, above the limit of 5,000,000 requests per workload
source (memory: ...)``.

The limits are generous for real studies (the largest announced GPU clusters hold a few
hundred thousand GPUs; a day of a busy service is a few million requests) and small enough
that a run fits in a workstation's memory. Use the pydantic types (:data:`RequestCount`,
:data:`JobCount`, :data:`GpuCount`, ...) in input models, or :func:`check_at_most` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from gputwin.errors import InputError


@dataclass(frozen=True, slots=True)
class Limit:
    """An upper bound: ``value`` of ``unit`` (plural noun), and ``why`` it exists."""

    value: int
    unit: str
    why: str

    def message(self, got: int | float) -> str:
        return f"got {got:,}, above the limit of {self.value:,} {self.unit} ({self.why})"


#: Synthetic requests of one serving workload source (each request keeps a record).
MAX_REQUESTS = Limit(5_000_000, "requests per workload source",
                     "about 1 KiB of memory and 0.2 ms per request: 5 M take ~6 GiB "
                     "and ~15 min; split longer studies")
#: Synthetic jobs of one cluster scenario.
MAX_JOBS = Limit(1_000_000, "jobs per synthetic workload",
                 "run time: about 2.5 ms per job, so 1 M jobs take roughly 40 min")
#: GPUs in one job, collective, estimate or cluster.
MAX_GPUS = Limit(1_048_576, "GPUs",
                 "2^20; the largest announced clusters hold a few hundred thousand")
#: Replicas of one serving service (each is simulated engine by engine).
MAX_REPLICAS = Limit(10_000, "replicas per service",
                     "each replica is simulated step by step")

#: Tokens of one prompt or output (or a part of one: a chunk, a system prompt).
MAX_TOKENS = Limit(2**31 - 1, "tokens",
                   "2^31 - 1, far above any model's context and small enough for the int64 "
                   "columns of the request table")
#: Corpus chunks of one RAG workload source (each has a popularity weight).
MAX_RAG_CHUNKS = Limit(10_000_000, "corpus chunks per RAG source",
                       "each chunk's popularity weight is kept and summed, 16 bytes a chunk")
#: Prompt blocks one RAG source generates: requests x (system blocks + chunks per request).
MAX_PROMPT_BLOCKS = Limit(100_000_000, "prompt blocks per RAG source",
                          "each request keeps its prompt's KV-block ids, about 10 bytes "
                          "each: 100 M take ~1 GiB")
#: Servers of one RAG pipeline stage (replicas x concurrent queries per replica).
MAX_STAGE_SERVERS = Limit(1_000_000, "servers per RAG stage",
                          "each server's next free time is kept in a heap")

#: Runs of one ``compare`` (variants x seeds; each run is a whole simulation).
MAX_COMPARE_RUNS = Limit(2_000, "runs per comparison (variants x seeds)",
                         "each run is a whole simulation whose summary is kept (0.3 s "
                         "for the default scenario, 25-40 s for the whole Philly trace); split "
                         "larger studies")

#: Values reached through aliases in one YAML file or option value (each use of an alias
#: counts every value it names again). Files without aliases are not limited.
MAX_YAML_ALIAS_VALUES = Limit(100_000, "values",
                              "each use of an alias copies what it names, so a few nested "
                              "aliases can name billions of values; write large data out")


def check_at_most(value: int | float, limit: Limit, where: str) -> None:
    """Raise :class:`InputError` at ``where`` if ``value`` is above ``limit``."""
    if value > limit.value:
        raise InputError(limit.message(value), where=where)


def _at_most(limit: Limit) -> Callable[[int], int]:
    def validate(value: int) -> int:
        if value > limit.value:
            raise ValueError(limit.message(value))  # pydantic adds the field and line
        return value

    return validate


#: Pydantic field types: a positive integer (or one >= 0: ``OrZero``) no larger than the limit.
RequestCount = Annotated[int, Field(gt=0), AfterValidator(_at_most(MAX_REQUESTS))]
JobCount = Annotated[int, Field(gt=0), AfterValidator(_at_most(MAX_JOBS))]
GpuCount = Annotated[int, Field(gt=0), AfterValidator(_at_most(MAX_GPUS))]
ReplicaCount = Annotated[int, Field(gt=0), AfterValidator(_at_most(MAX_REPLICAS))]
TokenCount = Annotated[int, Field(gt=0), AfterValidator(_at_most(MAX_TOKENS))]
TokenCountOrZero = Annotated[int, Field(ge=0), AfterValidator(_at_most(MAX_TOKENS))]
RagChunkCount = Annotated[int, Field(gt=0), AfterValidator(_at_most(MAX_RAG_CHUNKS))]
