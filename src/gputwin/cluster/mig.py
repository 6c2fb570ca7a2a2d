"""MIG (Multi-Instance GPU) geometry: profiles, placements, layouts and reconfiguration.

A MIG-capable GPU has 7 compute slices and 8 memory slices. A GPU instance of a profile
occupies ``memory_slices`` consecutive memory slices from one of the profile's valid
``starts`` (NVIDIA's placement table, ``nvidia-smi mig -lgipp``) and the compute slices
``[start, start + compute_slices)``. Two instances may not share a memory slice; since every
profile's compute range lies inside its memory range, memory disjointness implies compute
disjointness. A profile also has a maximum instance count (``+me`` media-extension
profiles: one per GPU).

State is immutable: :class:`MigState` holds the instances and their slice bitmasks, and
:meth:`MigGeometry.place` / :meth:`MigGeometry.remove` return new states. The data (with
sources) lives in ``mig_profiles.yaml`` next to this module.

Errors: an unknown accelerator or profile name raises :class:`UnknownNameError`; placing
where the table or the current layout forbids raises :class:`MigError` (a scheduler bug).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gputwin.errors import GputwinError, InputError, UnknownNameError
from gputwin.yaml_io import load_yaml_with_lines, validation_error_to_input_error

DATA_FILE = Path(__file__).with_name("mig_profiles.yaml")


class MigError(GputwinError):
    """An impossible MIG operation (overlap, invalid start, too many instances)."""


# -- data file schema (edge only) --------------------------------------------------------------


class _ProfileRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    profile_id: int = Field(ge=0)
    compute_slices: int = Field(ge=1)
    memory_slices: int = Field(ge=1)
    max_instances: int = Field(ge=1)
    starts: list[int] = Field(min_length=1)
    media_extensions: bool = False


class _GpuRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    accelerators: list[str] = Field(min_length=1)
    compute_slices: int = Field(ge=1)
    memory_slices: int = Field(ge=1, le=62)
    profiles: list[_ProfileRow] = Field(min_length=1)


class _Sourced(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: float = Field(ge=0)
    source: str = Field(min_length=1)


class _MigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=1)
    url: str
    placements_url: str
    reconfiguration_time_s: _Sourced
    gpus: list[_GpuRow] = Field(min_length=1)


# -- hot-path types -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MigProfile:
    """One GPU-instance profile; ``placements`` holds ``(start, memory_mask, compute_mask)``."""

    name: str
    profile_id: int
    compute_slices: int
    memory_slices: int
    max_instances: int
    starts: tuple[int, ...]
    media_extensions: bool
    placements: tuple[tuple[int, int, int], ...]

    @property
    def nominal_memory_bytes(self) -> float:
        """Memory from the profile name (``3g.40gb`` → 40e9 bytes; the name's GB are nominal)."""
        text = self.name.split(".", 1)[1].split("+", 1)[0].removesuffix("gb")
        return float(text) * 1e9


@dataclass(frozen=True, slots=True, order=True)
class MigInstance:
    """A GPU instance: a profile placed at a start memory slice."""

    start: int
    profile: str


@dataclass(frozen=True, slots=True)
class MigState:
    """The GPU instances on one GPU (sorted by start) and the slices they occupy (bitmasks)."""

    instances: tuple[MigInstance, ...] = ()
    memory_mask: int = 0
    compute_mask: int = 0

    def count(self, profile: str) -> int:
        return sum(1 for inst in self.instances if inst.profile == profile)


@dataclass(frozen=True, slots=True)
class ReconfigPlan:
    """How to get an instance of a wanted profile: destroy ``destroy`` (all idle), then create
    ``create``; ``new_state`` is the resulting layout; ``time_s`` the reconfiguration cost.
    ``reused`` is True when an idle instance of the wanted profile already existed."""

    destroy: tuple[MigInstance, ...]
    create: MigInstance
    new_state: MigState
    time_s: float
    reused: bool = False


def _mask(start: int, size: int) -> int:
    return ((1 << size) - 1) << start


class MigGeometry:
    """The MIG profile table of one GPU model. Obtain with :meth:`for_gpu`."""

    __slots__ = ("compute_slices", "memory_slices", "name", "profiles", "reconfiguration_time_s")

    def __init__(
        self,
        name: str,
        compute_slices: int,
        memory_slices: int,
        profiles: dict[str, MigProfile],
        reconfiguration_time_s: float,
    ) -> None:
        self.name = name
        self.compute_slices = compute_slices
        self.memory_slices = memory_slices
        self.profiles = profiles
        self.reconfiguration_time_s = reconfiguration_time_s

    @staticmethod
    def for_gpu(accelerator: str) -> MigGeometry:
        """Geometry for a catalog accelerator name or alias (``h100-sxm-80gb``, ``H100-80GB``).

        Raises :class:`UnknownNameError` for GPUs without MIG data.
        """
        table = _geometries()
        if accelerator in table:
            return table[accelerator]
        lowered = {k.lower(): v for k, v in table.items()}
        if accelerator.lower() in lowered:
            return lowered[accelerator.lower()]
        raise UnknownNameError("MIG-capable accelerator", accelerator, sorted(table))

    # -- reads ------------------------------------------------------------------------------

    def profile(self, name: str) -> MigProfile:
        try:
            return self.profiles[name]
        except KeyError:
            known = list(self.profiles)
            raise UnknownNameError(f"MIG profile of {self.name}", name, known) from None

    def valid_starts(self, profile: str) -> tuple[int, ...]:
        """The placement table's start memory slices of ``profile``."""
        return self.profile(profile).starts

    def empty(self) -> MigState:
        return MigState()

    def can_place(self, state: MigState, profile: str) -> list[int]:
        """Starts where ``profile`` fits now (free memory slices, instance limit not reached)."""
        prof = self.profile(profile)
        if state.count(profile) >= prof.max_instances:
            return []
        used = state.memory_mask
        return [start for start, mem, _ in prof.placements if not mem & used]

    def free_profiles(self, state: MigState) -> dict[str, list[int]]:
        """Every profile that fits now, with its possible starts (profiles that fit nowhere are
        left out)."""
        out: dict[str, list[int]] = {}
        for name in self.profiles:
            starts = self.can_place(state, name)
            if starts:
                out[name] = starts
        return out

    def idle_compute_slices(self, state: MigState) -> int:
        """Compute slices not covered by any instance (e.g. 1 for 3g + 3g on A100/H100)."""
        return self.compute_slices - state.compute_mask.bit_count()

    # -- writes (pure) ----------------------------------------------------------------------

    def place(self, state: MigState, profile: str, start: int) -> MigState:
        """A new state with ``profile`` created at ``start``; raises :class:`MigError`."""
        prof = self.profile(profile)
        found = [(mem, comp) for s, mem, comp in prof.placements if s == start]
        if not found:
            raise MigError(f"{self.name}: {profile} cannot start at slice {start}; "
                           f"valid starts {list(prof.starts)}")
        mem, comp = found[0]
        if mem & state.memory_mask:
            raise MigError(f"{self.name}: {profile}@{start} overlaps an existing instance")
        if state.count(profile) >= prof.max_instances:
            raise MigError(f"{self.name}: at most {prof.max_instances} × {profile} per GPU")
        instances = tuple(sorted((*state.instances, MigInstance(start, profile))))
        return MigState(instances, state.memory_mask | mem, state.compute_mask | comp)

    def remove(self, state: MigState, profile: str, start: int) -> MigState:
        """A new state without the instance ``profile@start``; raises :class:`MigError`."""
        target = MigInstance(start, profile)
        if target not in state.instances:
            raise MigError(f"{self.name}: no instance {profile}@{start} to destroy")
        return self.layout_state(i for i in state.instances if i != target)

    def layout_state(self, layout: Iterable[MigInstance | tuple[str, int]]) -> MigState:
        """Build a state from ``(profile, start)`` pairs; raises :class:`MigError` if invalid."""
        state = MigState()
        for item in layout:
            profile, start = (item.profile, item.start) if isinstance(item, MigInstance) else item
            state = self.place(state, profile, start)
        return state

    def is_valid_layout(self, layout: Iterable[MigInstance | tuple[str, int]]) -> bool:
        """True when every instance is at a table start, none overlap and limits hold."""
        try:
            self.layout_state(layout)
        except (MigError, UnknownNameError):
            return False
        return True

    # -- planning ---------------------------------------------------------------------------

    def plan_reconfiguration(
        self,
        state: MigState,
        busy: Iterable[MigInstance | tuple[str, int]],
        wanted: str,
        *,
        reconfiguration_time_s: float | None = None,
    ) -> ReconfigPlan | None:
        """The cheapest way to obtain a ``wanted`` instance without touching ``busy`` ones.

        An idle instance of ``wanted`` is reused as is (cost 0). Otherwise, for every valid
        start, the instances overlapping it must be destroyed; starts overlapping a busy
        instance are skipped. The plan destroys the fewest instances, then the fewest memory
        slices, then takes the lowest start. Returns ``None`` when no start is possible.
        ``time_s`` = ``reconfiguration_time_s`` (default: the data file's assumption).
        """
        prof = self.profile(wanted)
        busy_set = {
            b if isinstance(b, MigInstance) else MigInstance(b[1], b[0]) for b in busy
        }
        unknown = busy_set - set(state.instances)
        if unknown:
            raise MigError(f"{self.name}: busy instances not in the layout: {sorted(unknown)}")
        for inst in state.instances:
            if inst.profile == wanted and inst not in busy_set:
                return ReconfigPlan((), inst, state, 0.0, reused=True)
        if state.count(wanted) >= prof.max_instances:
            return None  # every instance of the profile is busy
        cost = (self.reconfiguration_time_s if reconfiguration_time_s is None
                else reconfiguration_time_s)
        best: tuple[tuple[int, int, int], tuple[MigInstance, ...]] | None = None
        for start, mem, _ in prof.placements:
            victims = tuple(
                i for i in state.instances
                if mem & _mask(i.start, self.profiles[i.profile].memory_slices)
            )
            if any(v in busy_set for v in victims):
                continue
            slices = sum(self.profiles[v.profile].memory_slices for v in victims)
            key = (len(victims), slices, start)
            if best is None or key < best[0]:
                best = (key, victims)
        if best is None:
            return None
        (_, _, start), victims = best
        keep = [i for i in state.instances if i not in victims]
        new_state = self.place(self.layout_state(keep), wanted, start)
        return ReconfigPlan(victims, MigInstance(start, wanted), new_state, float(cost))

    def smallest_profile(
        self, *, memory_bytes: float = 0.0, compute_slices: int = 1, media: bool = False
    ) -> MigProfile | None:
        """The profile with the fewest compute, then memory slices meeting the request."""
        fits = [
            p for p in self.profiles.values()
            if p.nominal_memory_bytes >= memory_bytes and p.compute_slices >= compute_slices
            and (p.media_extensions or not media)
        ]
        if not fits:
            return None
        return min(fits, key=lambda p: (p.compute_slices, p.memory_slices, p.media_extensions))

    def maximal_layouts(self, profiles: Iterable[str] | None = None) -> list[MigState]:
        """Every layout (of the given profiles, default all) to which none of them can be
        added; each returned once. Small: the A100/H100 tables yield a few dozen."""
        names = list(self.profiles) if profiles is None else list(profiles)
        seen: set[tuple[MigInstance, ...]] = set()
        out: list[MigState] = []

        def grow(state: MigState) -> None:
            if state.instances in seen:
                return
            seen.add(state.instances)
            extended = False
            for name in names:
                for start in self.can_place(state, name):
                    extended = True
                    grow(self.place(state, name, start))
            if not extended:
                out.append(state)

        grow(MigState())
        return out


@functools.cache
def _geometries() -> dict[str, MigGeometry]:
    """Every geometry of the data file, keyed by its name and each accelerator alias."""
    data, lines = load_yaml_with_lines(DATA_FILE)
    try:
        parsed = _MigFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(DATA_FILE), lines) from None
    table: dict[str, MigGeometry] = {}
    for gpu in parsed.gpus:
        geometry = _build(gpu, parsed.reconfiguration_time_s.value)
        for alias in (gpu.name, *gpu.accelerators):
            if alias in table:
                raise InputError(f"duplicate MIG accelerator name {alias!r}", where=str(DATA_FILE))
            table[alias] = geometry
    return table


def _build(gpu: _GpuRow, reconfiguration_time_s: float) -> MigGeometry:
    profiles: dict[str, MigProfile] = {}
    for row in gpu.profiles:
        for start in row.starts:
            if start < 0 or start + row.memory_slices > gpu.memory_slices or (
                start + row.compute_slices > gpu.compute_slices
            ):
                raise InputError(
                    f"{gpu.name}: {row.name} start {start} runs past the GPU's slices",
                    where=str(DATA_FILE),
                )
        placements = tuple(
            (s, _mask(s, row.memory_slices), _mask(s, row.compute_slices)) for s in row.starts
        )
        profiles[row.name] = MigProfile(
            name=row.name, profile_id=row.profile_id, compute_slices=row.compute_slices,
            memory_slices=row.memory_slices, max_instances=row.max_instances,
            starts=tuple(row.starts), media_extensions=row.media_extensions,
            placements=placements,
        )
    return MigGeometry(gpu.name, gpu.compute_slices, gpu.memory_slices, profiles,
                       reconfiguration_time_s)


def mig_accelerators() -> list[str]:
    """Every accelerator name or alias with MIG data."""
    return sorted(_geometries())
