"""Unknown names suggest what the user most likely meant."""

from __future__ import annotations

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
