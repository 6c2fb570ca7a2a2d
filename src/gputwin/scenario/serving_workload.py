"""A serving scenario's workload (``serving.workload[]``): synthetic, trace and RAG request
sources, their arrivals and their prompt and output lengths.

Part of the serving scenario format (:mod:`gputwin.scenario.serving`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.limits import (
    MAX_PROMPT_BLOCKS,
    MAX_TOKENS,
    RagChunkCount,
    RequestCount,
    TokenCount,
    TokenCountOrZero,
)
from gputwin.quantities import Seconds
from gputwin.requests import check_burstgpt_filter
from gputwin.scenario.rag import RagPipelineOptions
from gputwin.scenario.serving_engine import PosInt
from gputwin.workload.llm_synthetic import LengthDist
from gputwin.workload.llm_traces import LlmTraceFormat


class LengthOptions(InputModel):
    dist: Literal["fixed", "uniform", "lognormal"] = "fixed"
    value: TokenCount = 128  # bounded: gputwin.limits
    low: TokenCount = 1
    high: TokenCount = 1_000_000
    mean: float = Field(default=0.0)
    median: float = Field(default=0.0)

    @model_validator(mode="after")
    def _consistent(self) -> LengthOptions:
        """The rules of :class:`~gputwin.workload.llm_synthetic.LengthDist` (bounds in
        order, a lognormal's median within them and not above its mean)."""
        try:
            self.to_dist()
        except InputError as exc:
            raise ValueError(exc.detail) from None
        return self

    def to_dist(self) -> LengthDist:
        """The distribution the synthetic source draws lengths from."""
        return LengthDist(kind=self.dist, value=self.value, low=self.low, high=self.high,
                          mean=self.mean, median=self.median)


def default_lengths(model: str) -> tuple[str, str]:
    """Default synthetic prompt and output lengths for ``model`` (``simulate serve``).

    Lognormal prompts of mean 1000 / median 600 tokens and outputs of 250 / 150 (chat-like,
    as the Azure LLM inference trace), each capped at half the model's context (at most
    16,000 and 4,000 tokens), so default runs neither drop nor truncate requests on
    short-context models; where the cap falls below the median (a context under 1,200
    tokens) mean and median shrink in proportion, as a median must lie within the cap.
    An unknown model keeps the uncapped values (its error comes from the service check).
    """
    from gputwin.catalog.loader import default_catalog

    try:
        context = default_catalog().model(model).max_seq_len
    except InputError:
        context = 32_000
    half = max(1, context // 2)

    def spec(mean: float, median: float, cap: int) -> str:
        scale = min(1.0, cap / median)
        return f"lognormal:{mean * scale:g}/{median * scale:g}:{cap}"

    return spec(1000, 600, min(16_000, half)), spec(250, 150, min(4_000, half))


class ArrivalOptions(InputModel):
    process: Literal["poisson", "gamma", "bursty", "fixed", "diurnal"] = "poisson"
    rate: float = Field(gt=0, description="Mean requests per second")
    cv: float = Field(default=1.0, gt=0)
    burst_factor: float = Field(default=4.0, ge=1)
    on: Seconds = Field(default=10.0, gt=0)
    off: Seconds = 30.0
    start: Seconds = 0.0
    amplitude: float = Field(default=0.5, ge=0, lt=1, description="diurnal: swing of the "
                             "rate around its mean (0.5: peak 1.5x, trough 0.5x)")
    period: Seconds = Field(default=86400.0, gt=0, description="diurnal: length of a cycle")
    peak: Seconds = Field(default=50400.0, ge=0, description="diurnal: time of the peak "
                          "in the cycle (default 14:00)")


class LengthTraceOptions(InputModel):
    """Prompt and output lengths taken from a trace file (its arrival times unused)."""

    format: LlmTraceFormat = "azure"
    path: str
    sample: Literal["sequential", "random"] = Field(
        default="sequential", description="sequential: the trace's requests in arrival "
        "order, from the start again when it runs out; random: drawn with replacement "
        "(seeded stream llm/<source>/lengths)")


class SyntheticSource(InputModel):
    kind: Literal["synthetic"]
    service: str = "default"
    num_requests: RequestCount
    arrival: ArrivalOptions | None = Field(
        default=None, description="Open loop: when requests arrive (give this or "
        "`concurrency`)")
    concurrency: PosInt | None = Field(
        default=None, description="Closed loop: this many clients, each sending its next "
        "request when the previous one completes (a benchmark's maximum concurrency; give "
        "this or `arrival`)")
    think_time: Seconds = Field(default=0.0, description="Closed loop: a client's pause "
                                "between a completion and its next request")
    prompt: LengthOptions = LengthOptions(value=512)
    output: LengthOptions = LengthOptions(value=128)
    lengths: LengthTraceOptions | None = Field(
        default=None, description="Take prompt/output lengths from a trace instead of "
        "the prompt/output distributions")
    priority: int = 0
    repeat: PosInt = Field(
        default=1, description="Send each distinct prompt this many times in random order "
        "(shared KV blocks for the prefix cache; vLLM benchmark_prefix_caching's "
        "--repeat-count)")
    warmup_requests: int = Field(
        default=0, ge=0, description="The first this many requests (in send order) load "
        "the server but are left out of the summary metrics: a benchmark client's warm-up "
        "(AIPerf/genai-perf --warmup-request-count). A closed loop's profiled requests "
        "follow on without a pause, so its start-up burst falls in the warm-up "
        "(docs/serving-simulation.md, \"Closed-loop clients\")")

    @model_validator(mode="after")
    def _one_length_source(self) -> SyntheticSource:
        if self.lengths is not None and {"prompt", "output"} & self.model_fields_set:
            raise ValueError("give either lengths (a length trace) or prompt/output "
                             "distributions, not both")
        if (self.arrival is None) == (self.concurrency is None):
            raise ValueError("give arrival (open loop) or concurrency (closed loop), "
                             "exactly one")
        if self.think_time and self.concurrency is None:
            raise ValueError("think_time applies to closed-loop clients (concurrency)")
        return self

    @field_validator("warmup_requests")
    @classmethod
    def _something_measured(cls, value: int, info: ValidationInfo) -> int:
        """Named at its own key (and flag), not at the source as a whole."""
        total = info.data.get("num_requests")
        if total is not None and value >= total:
            raise ValueError(f"must be below num_requests ({total}): nothing would be "
                             "measured")
        return value


class TraceSource(InputModel):
    kind: Literal["trace"]
    service: str = "default"
    format: LlmTraceFormat
    path: str
    max_requests: PosInt | None = None
    speedup: float = Field(default=1.0, gt=0)
    use_prefix_hashes: bool = True
    model_filter: str | None = Field(default=None, description="BurstGPT Model column")
    log_type: str | None = Field(default=None, description="BurstGPT Log Type column")

    @field_validator("model_filter", "log_type")
    @classmethod
    def _burstgpt_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check_burstgpt_filter(value, info.data.get("format"))


class RagSource(InputModel):
    kind: Literal["rag"]
    service: str = "default"
    num_requests: RequestCount
    arrival: ArrivalOptions
    num_chunks: RagChunkCount = 1000  # bounded: gputwin.limits
    chunks_per_request: PosInt = 4
    chunk_tokens: TokenCount = 512
    system_tokens: TokenCountOrZero = 512
    zipf_s: float = Field(default=1.1, ge=0)
    query: LengthOptions = LengthOptions(dist="uniform", low=16, high=128)
    output: LengthOptions = LengthOptions(dist="lognormal", low=16, high=2048, mean=250,
                                          median=180)
    retrieval: Seconds = Field(default=0.03, description="Embedding + vector search "
                               "(a fixed delay; ignored when `pipeline` is given)")
    pipeline: RagPipelineOptions | None = Field(
        default=None, description="Embedding, vector index, BM25 and reranker services "
        "simulated under load in front of the LLM (docs/rag.md)")

    @model_validator(mode="after")
    def _prompts_fit(self) -> RagSource:
        """The generator's sizes, before anything is drawn: top-k from the corpus, a prompt
        an int64 request table holds, and every request's block ids in memory."""
        k = self.chunks_per_request
        if k > self.num_chunks:
            raise ValueError(f"chunks_per_request ({k}) exceeds num_chunks "
                             f"({self.num_chunks}): a prompt's chunks are distinct")
        query = self.query.value if self.query.dist == "fixed" else self.query.high
        prompt = self.system_tokens + k * self.chunk_tokens + query
        if prompt > MAX_TOKENS.value:
            raise ValueError("the longest prompt (system_tokens + chunks_per_request x "
                             f"chunk_tokens + query): {MAX_TOKENS.message(prompt)}")
        per_prompt = -(-self.system_tokens // self.chunk_tokens) + k
        blocks = self.num_requests * per_prompt
        if blocks > MAX_PROMPT_BLOCKS.value:
            raise ValueError(f"num_requests x blocks per prompt ({per_prompt:,}: system_tokens "
                             "in chunk_tokens blocks + chunks_per_request): "
                             + MAX_PROMPT_BLOCKS.message(blocks))
        return self


Source = Annotated[SyntheticSource | TraceSource | RagSource, Field(discriminator="kind")]
