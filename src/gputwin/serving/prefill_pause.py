"""The decoders' wait through prefill batches (prefill first, SGLang's schedule).

With ``EngineConfig.mixed_chunk`` off a prefill batch runs its prompt chunks alone, so the
running requests do not decode through it; several prefill batches in a row are one gap
for each of them. :class:`PrefillPause` keeps that wait and the groups of decoders by the
wait at which they joined (those already decoding at 0, those whose prompt finished in a
batch at the wait so far), and records each group's gap in the ITL histogram at the first
decode step after the batches (:meth:`Replica._start_step`, ``serving/engine.py``). The
decoders it counts are the measured ones (``SchedulerState.n_measured``): a warm-up
request's gaps stay out of the histogram, as its other latencies stay out of the metrics.
"""

from __future__ import annotations

from gputwin.serving.histogram import LogHistogram


class PrefillPause:
    """The wait (s) through the prefill batches in a row and its (decoders, wait when
    they joined) groups; ``first_logged``: the next decode step's gaps are recorded."""

    __slots__ = ("first_logged", "groups", "wait_s")

    def __init__(self) -> None:
        self.wait_s = 0.0
        self.groups: list[tuple[int, float]] = []
        self.first_logged = False

    def batch_ended(self, dur_s: float, decoders_before: int, decoders_after: int) -> None:
        """A prefill batch of ``dur_s`` ended: ``decoders_before`` (measured) waited
        through it, and ``decoders_after`` decode now (the rest finished their prompts in
        it). No group yet: this batch starts the wait (with no measured decoder waiting,
        a restart changes no gap: each is counted from its group's join)."""
        if not self.groups:  # the first batch in a row: the wait starts
            self.wait_s = 0.0
            if decoders_before:
                self.groups.append((decoders_before, 0.0))
        self.wait_s += dur_s
        if decoders_after > decoders_before:
            self.groups.append((decoders_after - decoders_before, self.wait_s))

    def log(self, itl: LogHistogram, step_s: float, decoders: int) -> None:
        """The first decode step (``step_s``) after the batches: each of the ``decoders``
        measured decoders' gap is the wait since its last token plus the step; decoders
        preempted meanwhile (the newest groups) are left out."""
        left = decoders
        for n, joined in self.groups:
            k = n if n < left else left
            if k > 0:
                itl.add(self.wait_s - joined + step_s, k)
                left -= k
        self.groups = []
        self.first_logged = True
