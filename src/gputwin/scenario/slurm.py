"""A real ``slurm.conf`` as the scenario's scheduler (and, if not given, cluster size).

A scenario may say::

    scheduler:
      slurm:
        conf: slurm/slurm.conf             # beside the scenario file
        qos: {high: 1000, normal: 100}     # QOS priorities (sacctmgr; not in slurm.conf)
        partition: gpu                     # which partition's nodes form the cluster

Read from ``slurm.conf`` (``Key=Value`` words, ``#`` comments, case-insensitive keys):

- ``SchedulerType``: ``sched/backfill`` → EASY backfill, ``sched/builtin`` → FIFO order.
- ``PriorityType``: ``priority/multifactor`` → the ``multifactor`` queue sort, with
  ``PriorityWeightAge``, ``PriorityWeightFairshare``, ``PriorityWeightJobSize``,
  ``PriorityWeightQOS``, ``PriorityMaxAge`` and ``PriorityDecayHalfLife`` (Slurm times:
  ``days-hours``, ``[days-]hours:minutes[:seconds]`` or minutes), ``PriorityCalcPeriod``
  (minutes), ``PriorityFavorSmall``.
- ``NodeName`` lines with ``Gres=gpu[:type]:N`` (host lists such as ``gpu[001-096]``) and
  ``PartitionName`` lines (``Nodes=``, ``Default=YES``): the partition's GPU nodes give
  ``cluster.num_nodes`` when the scenario does not.

Not modelled: other partitions (one pool), ``PriorityWeightPartition``/``TRES``/``Assoc``
(no such factor), preemption settings, per-partition limits. Errors name the file, line
and key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gputwin.errors import InputError
from gputwin.limits import MAX_GPUS

_WEIGHTS = {"priorityweightage": "weight_age", "priorityweightfairshare": "weight_fairshare",
            "priorityweightjobsize": "weight_job_size", "priorityweightqos": "weight_qos"}
_TIMES = {"prioritymaxage": "max_age_s", "prioritydecayhalflife": "half_life_s"}


class SlurmConf:
    """``slurm.conf`` parsed: global keys (lower-cased) and node / partition lines, each
    with its line number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.globals: dict[str, tuple[str, int]] = {}
        self.nodes: list[tuple[dict[str, str], int]] = []
        self.partitions: list[tuple[dict[str, str], int]] = []
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read slurm.conf: {exc.strerror}", where=str(path)) from None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = _words(line, self.where(number))
            first = next(iter(words))
            if first == "nodename":
                self.nodes.append((words, number))
            elif first == "partitionname":
                self.partitions.append((words, number))
            else:
                for key, value in words.items():
                    self.globals[key] = (value, number)

    def where(self, line: int) -> str:
        return f"{self.path}:{line}"

    def get(self, key: str) -> tuple[str, int] | None:
        return self.globals.get(key.lower())


def _words(line: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in line.split():
        if "=" not in word:
            raise InputError(f"expected Key=Value, got {word!r}", where=where)
        key, value = word.split("=", 1)
        out[key.lower()] = value
    return out


def slurm_time_s(text: str, where: str, key: str) -> float:
    """Slurm's time formats: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if m is None:
        raise InputError(f"{key}: expected a Slurm time (e.g. 7-0, 14-00:00:00, 60), got "
                         f"{text!r}", where=where)
    days, a, b, c = m.groups()
    if days is not None:  # D-H[:M[:S]]
        return (int(days) * 24 + int(a)) * 3600 + int(b or 0) * 60 + int(c or 0)
    if b is None:  # minutes
        return int(a) * 60.0
    if c is None:  # M:S
        return int(a) * 60.0 + int(b)
    return int(a) * 3600.0 + int(b) * 60 + int(c)


def expand_hostlist(text: str, where: str) -> list[str]:
    """``gpu[001-003,010],login1`` → the host names."""
    out: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", text):
        m = re.fullmatch(r"([^\[]*)\[([^\]]+)\](.*)", part)
        if m is None:
            out.append(part)
            continue
        prefix, ranges, suffix = m.groups()
        for r in ranges.split(","):
            lo, _, hi = r.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()) or (hi and int(hi) < int(lo)):
                raise InputError(f"bad host range {r!r} in {text!r}", where=where)
            count = int(hi or lo) - int(lo) + 1
            if len(out) + count > MAX_GPUS.value:  # before building a list of that size
                raise InputError(f"host list {text!r} names more than {MAX_GPUS.value:,} "
                                 f"hosts ({MAX_GPUS.why})", where=where)
            for i in range(int(lo), int(hi or lo) + 1):
                out.append(f"{prefix}{i:0{len(lo)}d}{suffix}")
    return out


def _gpus(words: dict[str, str], where: str) -> int:
    for gres in words.get("gres", "").split(","):
        parts = gres.split(":")
        if parts[0] == "gpu":
            count = parts[-1].split("(")[0]
            if not count.isdigit():
                raise InputError(f"Gres: expected gpu[:type]:N, got {gres!r}", where=where)
            return int(count)
    return 0


def scheduler_from_slurm(section: dict[str, Any], base: Path,
                         where: str) -> tuple[dict[str, Any], int | None]:
    """(``scheduler`` fields, GPU nodes of the partition or ``None``) from ``section``."""
    unknown = sorted(set(section) - {"conf", "qos", "partition"})
    if unknown:
        raise InputError(f"scheduler.slurm: unknown field(s) {', '.join(unknown)}; expected "
                         "conf, qos, partition", where=where)
    if not isinstance(section.get("conf"), str):
        raise InputError("scheduler.slurm.conf: give the path of a slurm.conf", where=where)
    path = Path(section["conf"])
    conf = SlurmConf(path if path.is_absolute() else base / path)
    sched = (conf.get("SchedulerType") or ("sched/backfill", 0))[0].lower()
    prio = (conf.get("PriorityType") or ("priority/basic", 0))[0].lower()
    out: dict[str, Any] = {}
    if prio == "priority/multifactor":
        out["profile"] = "multifactor"
        out["args"] = {"multifactor": _multifactor(conf, section.get("qos") or {}),
                       "backfill": {"mode": "easy"}}
        if sched == "sched/builtin":
            out["plugins"] = {"queueing": "strict"}
    elif prio == "priority/basic":
        out["profile"] = "backfill-easy" if sched == "sched/backfill" else "fifo"
    else:
        value, line = conf.get("PriorityType") or (prio, 0)
        raise InputError(f"PriorityType: expected priority/multifactor or priority/basic, "
                         f"got {value!r}", where=conf.where(line))
    return out, _partition_nodes(conf, section.get("partition"))


def _multifactor(conf: SlurmConf, qos: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key, field in _WEIGHTS.items():
        found = conf.get(key)
        if found is not None:
            if not found[0].isdigit():
                raise InputError(f"{key}: expected a non-negative integer, got {found[0]!r}",
                                 where=conf.where(found[1]))
            args[field] = float(found[0])
    for key, field in _TIMES.items():
        found = conf.get(key)
        if found is not None:
            args[field] = slurm_time_s(found[0], conf.where(found[1]), key)
    period = conf.get("PriorityCalcPeriod")
    if period is not None:
        args["recalc_period_s"] = slurm_time_s(period[0], conf.where(period[1]),
                                               "PriorityCalcPeriod")
    small = conf.get("PriorityFavorSmall")
    if small is not None:
        if small[0].lower() not in ("yes", "no"):
            raise InputError(f"PriorityFavorSmall: expected YES or NO, got {small[0]!r}",
                             where=conf.where(small[1]))
        args["favor_small"] = small[0].lower() == "yes"
    if qos:
        args["qos_priority"] = {str(k): float(v) for k, v in qos.items()}
    return args


def _partition_nodes(conf: SlurmConf, name: Any) -> int | None:
    gpus_of: dict[str, int] = {}
    for words, line in conf.nodes:
        count = _gpus(words, conf.where(line))
        for host in expand_hostlist(words["nodename"], conf.where(line)):
            gpus_of[host] = count
    chosen = None
    for words, line in conf.partitions:
        if (name is not None and words["partitionname"] == str(name)) or (
                name is None and words.get("default", "").lower() == "yes"):
            chosen = (words, line)
    if chosen is None:
        if name is not None:
            raise InputError(f"scheduler.slurm.partition: no partition {name!r} in "
                             f"{conf.path}", where=str(conf.path))
        return sum(1 for g in gpus_of.values() if g > 0) or None
    words, line = chosen
    hosts = list(gpus_of) if words.get("nodes", "").upper() == "ALL" else expand_hostlist(
        words.get("nodes", ""), conf.where(line))
    return sum(1 for h in hosts if gpus_of.get(h, 0) > 0) or None
