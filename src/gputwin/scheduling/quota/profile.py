"""Turn any resolved profile into its Kueue form (the ``tenancy:`` section is present).

Queue order and walk become ``queue-sort/kueue`` and ``queueing/kueue``; the quota check
``pre-filter/kueue-quota`` runs before the profile's own pre-filters; preemption is
``post-filter/kueue-preemption``, followed by the profile's other post-filters except
``preempt-lowest-priority`` (which ignores quotas). Filters, scores and placement stay.
"""

from __future__ import annotations

from gputwin.scheduling.api import Plugin, PluginArgs
from gputwin.scheduling.profiles import ResolvedProfile
from gputwin.scheduling.quota.admission import KueueQueueing, KueueQuota, KueueSort
from gputwin.scheduling.quota.preemption import KueuePreemption

_REPLACED = {KueueQuota.name, KueuePreemption.name, "post-filter/preempt-lowest-priority"}


def with_tenancy(resolved: ResolvedProfile) -> ResolvedProfile:
    """``resolved`` with the Kueue plugins in place (see the module docstring)."""
    single: dict[str, tuple[type[Plugin], PluginArgs]] = dict(resolved.single)
    single["queue_sort"] = (KueueSort, PluginArgs())
    single["queueing"] = (KueueQueueing, PluginArgs())
    lists = {point: [e for e in entries if e[0].name not in _REPLACED]
             for point, entries in resolved.lists.items()}
    lists["pre_filter"].insert(0, (KueueQuota, PluginArgs(), 1.0))
    lists["post_filter"].insert(0, (KueuePreemption, PluginArgs(), 1.0))
    name = resolved.name if resolved.name.endswith("+kueue") else f"{resolved.name}+kueue"
    return ResolvedProfile(name, single, lists)
