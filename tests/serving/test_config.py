"""EngineConfig's derived prompt limits."""

from __future__ import annotations

from gputwin.serving.config import EngineConfig


def _cfg(**kw: object) -> EngineConfig:
    base: dict[str, object] = {"num_kv_blocks": 1000, "max_num_batched_tokens": 8192,
                               "max_model_len": 16384, "enable_chunked_prefill": False,
                               "reserve_full_sequence": True}
    return EngineConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_idle_rank_prompt_tokens_is_the_budget_less_one_decoder() -> None:
    assert _cfg().idle_rank_prompt_tokens == 8191
    assert _cfg(num_speculative_tokens=3).idle_rank_prompt_tokens == 8188


def test_idle_rank_prompt_tokens_takes_a_ranks_share_under_the_balance() -> None:
    pooled = _cfg(max_num_batched_tokens=8 * 8512, attention_dp_ranks=8)
    balanced = _cfg(max_num_batched_tokens=8 * 8512, attention_dp_ranks=8,
                    adp_enable_balance=True)
    assert pooled.idle_rank_prompt_tokens == 8 * 8512 - 1
    assert balanced.idle_rank_prompt_tokens == 8511
    assert balanced.max_prompt_tokens == 8512


def test_no_idle_rank_limit_with_chunked_prefill() -> None:
    assert _cfg(enable_chunked_prefill=True).idle_rank_prompt_tokens is None
