"""Speculative-decoding options a replica refuses (perf/speculation.py's rules, raised by
prepare_serving as one-line InputErrors naming the option)."""

from __future__ import annotations

from typing import Any

import pytest
from perf_serving_builders import make_perf

from gputwin.errors import InputError


@pytest.mark.parametrize(("kw", "message"), [
    ({"num_speculative_tokens": -1}, "--spec-tokens must be >= 0"),
    ({"num_speculative_tokens": 2}, "needs a draft kind"),
    ({"num_speculative_tokens": 2, "draft_kind": "medusa"}, "needs a draft kind"),
    ({"num_speculative_tokens": 2, "draft_kind": "draft_model"},
     "--draft-model is required for draft_model"),
    ({"num_speculative_tokens": 2, "draft_kind": "eagle", "draft_model": "llama3.2-1b"},
     "--draft-model llama3.2-1b is used only by the draft_model and fused_draft proposers"),
    ({"acceptance_rate": 1.5}, r"--acceptance must be in \[0, 1\]"),  # checked without k too
])
def test_bad_speculation_names_the_option(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_perf("llama3-70b", tp=4, **kw)


@pytest.mark.parametrize("kw", [
    {"num_speculative_tokens": 3, "draft_kind": "ngram"},
    {"num_speculative_tokens": 3, "draft_kind": "eagle"},
    {"num_speculative_tokens": 3, "draft_kind": "fused_draft", "draft_model": "llama3.2-1b"},
    {"num_speculative_tokens": 0, "draft_kind": "eagle", "draft_model": "llama3.2-1b"},
])
def test_good_speculation_is_accepted(kw: dict[str, Any]) -> None:
    spec = make_perf("llama3-70b", tp=4, acceptance_rate=1.0, **kw).speculation
    # at full acceptance every proposal is kept: k + 1 tokens per step (1 without k)
    assert spec.expected_tokens_per_step() == kw["num_speculative_tokens"] + 1
