"""Outcomes of plugin calls: :class:`Status` values, never exceptions (Kubernetes' lesson).

``SUCCESS`` = go on; ``UNSCHEDULABLE`` = not now (``reason`` says why: shown as the job's
waiting reason); ``REJECT`` = never (the job ends ``failed`` with ``reason``); ``WAIT`` =
permit says hold the reserved resources and ask again next cycle (up to ``timeout_s``);
``SKIP`` = this plugin has nothing to say about this job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    UNSCHEDULABLE = 1
    REJECT = 2
    WAIT = 3
    SKIP = 4


@dataclass(frozen=True, slots=True)
class Status:
    code: Code = Code.SUCCESS
    reason: str = ""
    plugin: str = ""
    timeout_s: float = 0.0  # WAIT only: give up holding after this long

    @property
    def ok(self) -> bool:
        return self.code == Code.SUCCESS or self.code == Code.SKIP

    @staticmethod
    def unschedulable(reason: str, plugin: str = "") -> Status:
        return Status(Code.UNSCHEDULABLE, reason, plugin)

    @staticmethod
    def reject(reason: str, plugin: str = "") -> Status:
        return Status(Code.REJECT, reason, plugin)

    @staticmethod
    def wait(reason: str, timeout_s: float, plugin: str = "") -> Status:
        return Status(Code.WAIT, reason, plugin, timeout_s)


SUCCESS = Status()
SKIP = Status(Code.SKIP)
