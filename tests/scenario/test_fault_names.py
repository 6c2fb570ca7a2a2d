"""The fault-model names a scenario's schema lists without loading the fault catalog."""

from gputwin.reliability import faults
from gputwin.scenario.fault_models import FAULT_MODEL_NAMES


def test_listed_names_are_the_registered_models() -> None:
    assert sorted(FAULT_MODEL_NAMES) == faults.registered()
