"""Unknown names suggest what the user most likely meant."""

from __future__ import annotations

import pytest

from gputwin.errors import UnknownNameError

KNOWN = ["a100-sxm-80gb", "h100-sxm-80gb", "h100-pcie-80gb", "h200-sxm-141gb", "b200",
         "gb200", "dgx-h100", "hgx-h200"]


def test_a_short_name_suggests_the_entries_that_contain_it_first() -> None:
    err = UnknownNameError("accelerator", "h100", KNOWN)
    assert err.suggestions[:2] == ["h100-sxm-80gb", "h100-pcie-80gb"]
    assert "did you mean 'h100-sxm-80gb'" in str(err)


def test_a_misspelling_suggests_its_neighbour() -> None:
    assert UnknownNameError("system", "dgx-h10", KNOWN).suggestions[0] == "dgx-h100"
    assert UnknownNameError("accelerator", "h200-sxm-141b", KNOWN).suggestions[0] == \
        "h200-sxm-141gb"


def test_nothing_close_lists_what_exists() -> None:
    err = UnknownNameError("accelerator", "zzzz", KNOWN)
    assert err.suggestions == []
    assert "known: a100-sxm-80gb" in str(err)


@pytest.mark.parametrize(("typed", "meant"), [
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1-8b"),
    ("nvidia/Llama-3.3-70B-Instruct-FP4", "llama3.3-70b"),
    ("nvidia/DeepSeek-R1-0528-FP4", "deepseek-r1"),
    ("nvidia/Llama-4-Maverick-17B-128E-Instruct-FP8", "llama4-maverick"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b"),
    ("meta-llama/Meta-Llama-3-8B", "llama3-8b"),
])
def test_a_checkpoint_id_suggests_the_catalog_model_first(typed: str, meant: str) -> None:
    known = ["llama3-8b", "llama3.1-8b", "llama3.1-70b", "llama3.3-70b", "deepseek-r1",
             "deepseek-v3", "llama4-maverick", "llama4-scout", "mixtral-8x7b", "mistral-7b"]
    err = UnknownNameError("model", typed, known)
    assert err.suggestions[0] == meant
