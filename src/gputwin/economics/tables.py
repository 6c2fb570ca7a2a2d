"""Data tables of the economics package (``economics/data/*.yaml``), typed and validated.

- ``api_prices.yaml``: dated public API prices per million input/output tokens.
- ``video_api_prices.yaml``: dated public video (and image) generation API prices, USD per
  second of generated video (or per image), at a stated resolution tier.

Both lists share one loader (:func:`load_api_list`): every entry carries a date and a source,
names are unique, and errors name the file, line and field (:class:`InputError`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import load_validated

DATA_DIR = Path(__file__).parent / "data"

#: ``as_of`` / ``retired`` dates: year and month.
_MONTH = r"^\d{4}-\d{2}$"


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _NamedApi(_Table):
    """An entry of an API price list: its name is unique within the list."""

    name: str


class ApiPrice(_NamedApi):
    """One public API's list price (USD per million tokens), dated."""

    provider: str
    kind: str
    models: list[str]
    usd_per_million_input: float = Field(ge=0)
    usd_per_million_output: float = Field(ge=0)
    as_of: str = Field(pattern=_MONTH)
    #: Month the endpoint stopped serving these weights (kept for the record).
    retired: str | None = Field(default=None, pattern=_MONTH)
    source: str = Field(min_length=8)

    @model_validator(mode="after")
    def _retired_after_reading(self) -> ApiPrice:
        if self.retired is not None and self.retired < self.as_of:
            raise ValueError(f"retired {self.retired} is before as_of {self.as_of}")
        return self


#: ``open-model host``: a third party serving open weights (the catalog DiTs in ``models``);
#: ``closed model``: the developer's own API for weights it does not publish;
#: ``closed model (reseller)``: a closed model sold through another host.
VideoApiKind = Literal["open-model host", "closed model", "closed model (reseller)"]


class VideoApiPrice(_NamedApi):
    """One public video or image generation API's list price, dated.

    Exactly one of ``usd_per_video_second`` (video APIs) and ``usd_per_image`` (image APIs).
    Per-video and per-megapixel prices are converted in the file, with the clip length or image
    size used stated in ``source``."""

    provider: str
    kind: VideoApiKind
    #: Catalog DiT models (``perf/diffusion.yaml``) whose weights an open-model host serves.
    models: list[str] = Field(default_factory=list)
    usd_per_video_second: float | None = Field(default=None, gt=0)
    usd_per_image: float | None = Field(default=None, gt=0)
    #: The resolution tier the price is for (e.g. ``720p``, ``1024x1024``).
    resolution: str = Field(min_length=2)
    as_of: str = Field(pattern=_MONTH)
    #: Month the provider stopped serving it, where it has (kept for the record).
    retired: str | None = Field(default=None, pattern=_MONTH)
    source: str = Field(min_length=8)

    def price(self, image: bool) -> float | None:
        """USD per image when ``image``, else per second of video (None: not that kind)."""
        return self.usd_per_image if image else self.usd_per_video_second

    @model_validator(mode="after")
    def _one_price(self) -> VideoApiPrice:
        if (self.usd_per_video_second is None) == (self.usd_per_image is None):
            raise ValueError("give exactly one of usd_per_video_second and usd_per_image")
        if self.kind == "open-model host" and not self.models:
            raise ValueError("an open-model host must name the catalog models it serves "
                             "(models)")
        if self.kind != "open-model host" and self.models:
            raise ValueError(f"models: only an open-model host serves catalog models "
                             f"(kind is {self.kind!r})")
        return self


_A = TypeVar("_A", bound=_NamedApi)


class _ApiList(_Table, Generic[_A]):
    apis: list[_A]


class ApiPriceList(_ApiList[ApiPrice]):
    pass


class VideoApiPriceList(_ApiList[VideoApiPrice]):
    pass


def load_api_list(path: Path, schema: type[_ApiList[_A]]) -> tuple[_A, ...]:
    """Read and validate a dated API price list; a duplicated name is an error."""
    table = load_validated(path, schema)
    names = [a.name for a in table.apis]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"apis: duplicate API name(s) {dup}", where=str(path))
    return tuple(table.apis)


@functools.cache
def api_prices() -> tuple[ApiPrice, ...]:
    return load_api_list(DATA_DIR / "api_prices.yaml", ApiPriceList)


def current_listings(apis: Iterable[ApiPrice], model: str) -> list[ApiPrice]:
    """The listings of ``apis`` that price ``model`` today: of each provider only its newest
    reading (``as_of``), unless that one is retired -- an older reading of the same provider
    is dated history, not a second offer, and does not come back when the newest endpoint
    retires. Listings of one provider read in the same month are all kept (e.g. two
    endpoints serving the same weights)."""
    serving = [a for a in apis if model in a.models]
    newest: dict[str, str] = {}
    for a in serving:  # retired readings count: an older one must not come back
        newest[a.provider] = max(newest.get(a.provider, a.as_of), a.as_of)
    return [a for a in serving if a.as_of == newest[a.provider] and a.retired is None]


def api_status(api: ApiPrice, model: str | None = None) -> str:
    """``current``, ``retired YYYY-MM`` or ``superseded`` (a newer reading of the same
    provider prices every model this one serves, or ``model`` when given)."""
    if api.retired is not None:
        return f"retired {api.retired}"
    models = [model] if model else api.models
    everything = api_prices()
    if all(api not in current_listings(everything, m) for m in models) and models:
        return "superseded"
    return "current"


def apis_for_model(model: str, *, history: bool = False) -> list[ApiPrice]:
    """The public APIs that serve catalog model ``model`` today (may be empty):
    :func:`current_listings`; ``history`` keeps retired and superseded readings too."""
    if history:
        return [a for a in api_prices() if model in a.models]
    return current_listings(api_prices(), model)


def api_price(name: str) -> ApiPrice:
    for a in api_prices():
        if a.name == name:
            return a
    raise UnknownNameError("API", name, [a.name for a in api_prices()], where="--api")


@functools.cache
def video_api_prices() -> tuple[VideoApiPrice, ...]:
    return load_api_list(DATA_DIR / "video_api_prices.yaml", VideoApiPriceList)


def video_apis_for_model(model: str, *, image: bool) -> tuple[list[VideoApiPrice],
                                                               list[VideoApiPrice]]:
    """The generation APIs to compare a self-hosted ``model`` with: the open-model hosts that
    serve ``model`` itself, and the closed-model APIs (for reference); image APIs when
    ``image``, else video APIs. Each list is sorted by price and may be empty."""

    fits = [a for a in video_api_prices() if a.price(image) is not None]

    def price(a: VideoApiPrice) -> float:
        return a.price(image) or 0.0  # every entry of ``fits`` has one

    same = sorted((a for a in fits if model in a.models), key=price)
    closed = sorted((a for a in fits if a.kind != "open-model host"), key=price)
    return same, closed
