"""The sector, byproduct-stream and abatement catalogue: data read from ``ecopark/data/*.toml``.

No economic logic lives here. Each numeric value in the data files is a table
``{value, unit, source}`` so that every figure carries its unit and where it comes from;
:func:`load_catalogue` checks that and returns plain typed objects plus the matrices the
vectorised model uses (sectors x streams yields and needs).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ecopark.schema import ConfigError

STREAM_NUMBERS = (
    "disposal_cost",
    "virgin_price",
    "processing_cost",
    "transport_cost",
    "link_capex_fixed",
    "link_capex_per_km",
    "max_distance",
    "co2_avoided",
    "price_opacity",
    "offspec_rate",
    "offspec_cost",
    "qualification_cost",
)
SECTOR_NUMBERS = (
    "capacity",
    "output_price",
    "variable_cost",
    "fixed_cost",
    "emission_intensity",
    "pass_through",
    "demand_elasticity",
    "electricity_intensity",
    "electricity_price",
    "scope2_in_intensity",
    "water_intensity",
    "water_price",
)


@dataclass(frozen=True)
class Stream:
    """A byproduct stream. Money in yuan per unit of the stream (``unit``), distance in km."""

    key: str
    name: str
    unit: str
    piped: bool
    landfilled: bool
    hazardous: bool
    credited_to: str  # "supplier" or "receiver": whose verified CO2 reduction a reuse is
    disposal_cost: float  # yuan/unit paid by the generator to dispose outside (negative: salvage)
    virgin_price: float  # yuan/unit of the input it replaces at the receiver
    processing_cost: float  # yuan/unit, receiver's pre-treatment
    transport_cost: float  # yuan/unit/km
    link_capex_fixed: float  # yuan per link
    link_capex_per_km: float  # yuan per km of pipe (0 for trucked streams)
    max_distance: float  # km beyond which no link is feasible
    co2_avoided: float  # tCO2e per unit reused
    price_opacity: float  # share of the valuation uncertainty faced when negotiating it, in [0, 1]
    offspec_rate: float  # share of a link's months whose delivery is off-spec, in [0, 1]
    offspec_cost: float  # yuan/unit, the receiver's extra cost in an off-spec month
    qualification_cost: float  # yuan, the receiver's one-off cost of qualifying a new supplier
    cascade: dict[str, float] = dataclasses.field(default_factory=dict)  # stream -> units passed on per unit received


@dataclass(frozen=True)
class Sector:
    """An industry. Quantities per month and per unit of output (``output_unit``)."""

    key: str
    name: str
    output_unit: str
    capacity: float  # output units/month of a typical firm
    output_price: float  # yuan/output unit
    variable_cost: float  # yuan/output unit, excluding substitutable inputs
    fixed_cost: float  # yuan/month
    emission_intensity: float  # tCO2e/output unit
    yields: dict[str, float]  # stream -> stream units per output unit
    needs: dict[str, float]  # stream -> substitutable stream units per output unit
    pass_through: float = 0.0  # share of the carbon cost per unit passed into the output price
    demand_elasticity: float = 0.0  # -(d ln demand / d ln price) for the park's output of the sector
    electricity_intensity: float = 0.0  # MWh of grid power per output unit (inside variable_cost)
    electricity_price: float = 0.0  # yuan/MWh the sector pays for grid power
    scope2_in_intensity: float = 0.0  # share of that power's grid emissions emission_intensity counts
    water_intensity: float = 0.0  # m3 of fresh water per output unit (inside variable_cost)
    water_price: float = 0.0  # yuan/m3 the sector pays for fresh water


@dataclass(frozen=True)
class Technology:
    """An abatement technology of a sector (for its typical firm; money scales with size)."""

    sector: str
    name: str
    capex: float  # yuan
    opex: float  # yuan/month
    share: float  # share of business-as-usual emissions abated
    lifetime: float  # months


TECHNOLOGY_NUMBERS = ("capex", "opex", "share", "lifetime")


@dataclass(frozen=True)
class Catalogue:
    """All sectors and streams, with the unit and source of every number."""

    sectors: dict[str, Sector]
    streams: dict[str, Stream]
    provenance: dict[str, tuple[str, str]]  # "sectors.refining.capacity" -> (unit, source)
    technologies: tuple[Technology, ...] = ()

    @property
    def sector_keys(self) -> tuple[str, ...]:
        return tuple(self.sectors)

    @property
    def stream_keys(self) -> tuple[str, ...]:
        return tuple(self.streams)

    def stream_array(self, field: str) -> np.ndarray:
        """One stream attribute as an array in ``stream_keys`` order."""
        return np.array([getattr(s, field) for s in self.streams.values()], dtype=float)

    def sector_array(self, field: str) -> np.ndarray:
        """One sector attribute as an array in ``sector_keys`` order."""
        return np.array([getattr(s, field) for s in self.sectors.values()], dtype=float)

    def yield_matrix(self) -> np.ndarray:
        """(sectors, streams) byproduct units generated per unit of output."""
        return self._matrix("yields")

    def need_matrix(self) -> np.ndarray:
        """(sectors, streams) substitutable input units needed per unit of output."""
        return self._matrix("needs")

    def cascade_matrix(self) -> np.ndarray:
        """(streams, streams): units of stream j a receiver passes on per unit of stream i it
        receives through a link (heat cascade: received steam or heat -> low-grade heat)."""
        keys = self.stream_keys
        out = np.zeros((len(keys), len(keys)))
        for i, stream in enumerate(self.streams.values()):
            for other, value in stream.cascade.items():
                out[i, keys.index(other)] = value
        return out

    def _matrix(self, attr: str) -> np.ndarray:
        keys = self.stream_keys
        out = np.zeros((len(self.sectors), len(keys)))
        for i, sector in enumerate(self.sectors.values()):
            for stream, value in getattr(sector, attr).items():
                out[i, keys.index(stream)] = value
        return out


def _number(entry: Any, key: str, provenance: dict[str, tuple[str, str]]) -> float:
    if not isinstance(entry, dict) or set(entry) != {"value", "unit", "source"}:
        raise ConfigError(key, "expected a table {value, unit, source}")
    if not isinstance(entry["value"], (int, float)) or isinstance(entry["value"], bool):
        raise ConfigError(key, f"value must be a number, got {entry['value']!r}")
    if not entry["unit"] or not entry["source"]:
        raise ConfigError(key, "unit and source must be non-empty")
    provenance[key] = (entry["unit"], entry["source"])
    return float(entry["value"])


def _read(name: str, path: Path | None) -> dict[str, Any]:
    if path is not None:
        return tomllib.loads((path / name).read_text())
    return tomllib.loads(resources.files("ecopark.data").joinpath(name).read_text())


Figures = TypeVar("Figures")


def load_figures(name: str, figures: type[Figures]) -> Figures:
    """The shipped data file ``name`` (``ecopark/data/<stem>.toml``) holding one ``{value, unit, source}``
    table per field of the dataclass ``figures``, each checked (:func:`_number`), as a ``figures``; a
    missing or malformed entry is a ConfigError naming ``<stem>.<field>`` (e.g. ``water.lifetime``)."""
    raw, stem = _read(name, None), name.removesuffix(".toml")
    return figures(**{f.name: _number(raw.get(f.name), f"{stem}.{f.name}", {}) for f in dataclasses.fields(figures)})


def parse_catalogue(
    sector_data: dict[str, Any], stream_data: dict[str, Any], technology_data: dict[str, Any] | None = None
) -> Catalogue:
    """Validate raw catalogue tables and build a :class:`Catalogue`."""
    provenance: dict[str, tuple[str, str]] = {}
    streams = {}
    stream_fields = {f.name for f in dataclasses.fields(Stream)}
    for key, raw in stream_data.items():
        unknown = set(raw) - stream_fields
        if unknown:
            raise ConfigError(f"streams.{key}.{sorted(unknown)[0]}", "unknown stream field")
        if raw.get("credited_to") not in ("supplier", "receiver"):
            raise ConfigError(f"streams.{key}.credited_to", "allowed: 'supplier' or 'receiver'")
        numbers = {f: _number(raw.get(f), f"streams.{key}.{f}", provenance) for f in STREAM_NUMBERS}
        for share in ("price_opacity", "offspec_rate"):
            if not 0 <= numbers[share] <= 1:
                raise ConfigError(f"streams.{key}.{share}", f"value {numbers[share]} out of range; allowed: 0 to 1")
        for cost in ("offspec_cost", "qualification_cost"):
            if numbers[cost] < 0:
                raise ConfigError(f"streams.{key}.{cost}", f"value {numbers[cost]} is negative; allowed: >= 0")
        cascade = {other: _number(entry, f"streams.{key}.cascade.{other}", provenance)
                   for other, entry in raw.get("cascade", {}).items()}
        streams[key] = Stream(
            key=key,
            name=raw["name"],
            unit=raw["unit"],
            piped=bool(raw["piped"]),
            landfilled=bool(raw["landfilled"]),
            hazardous=bool(raw["hazardous"]),
            credited_to=raw["credited_to"],
            **numbers,
            cascade=cascade,
        )
    for key, stream in streams.items():
        for other, value in stream.cascade.items():
            if other not in streams or other == key:
                raise ConfigError(f"streams.{key}.cascade.{other}",
                                  f"unknown or same stream; allowed: {', '.join(k for k in streams if k != key)}")
            if value < 0:
                raise ConfigError(f"streams.{key}.cascade.{other}", f"value {value} is negative; allowed: >= 0")
            if stream.unit == streams[other].unit and value >= 1:
                raise ConfigError(f"streams.{key}.cascade.{other}",
                                  f"value {value} passes on as much as is received; allowed: below 1 {stream.unit} "
                                  f"per {stream.unit}")
    sectors = {}
    for key, raw in sector_data.items():
        numbers = {f: _number(raw.get(f), f"sectors.{key}.{f}", provenance) for f in SECTOR_NUMBERS}
        flows = {}
        for attr in ("yields", "needs"):
            flows[attr] = {}
            for stream, entry in raw.get(attr, {}).items():
                if stream not in streams:
                    raise ConfigError(
                        f"sectors.{key}.{attr}.{stream}",
                        f"unknown stream; allowed: {', '.join(streams)}",
                    )
                flows[attr][stream] = _number(entry, f"sectors.{key}.{attr}.{stream}", provenance)
        if not 0 <= numbers["scope2_in_intensity"] <= 1:
            raise ConfigError(f"sectors.{key}.scope2_in_intensity",
                              f"value {numbers['scope2_in_intensity']} outside [0, 1]")
        utilities = (numbers["electricity_intensity"] * numbers["electricity_price"]
                     + numbers["water_intensity"] * numbers["water_price"])
        if utilities > numbers["variable_cost"]:
            raise ConfigError(f"sectors.{key}.electricity_price", "the power and water bill per unit "
                                                                  "(electricity_intensity x electricity_price + "
                                                                  "water_intensity x water_price) exceeds "
                                                                  "variable_cost; allowed: at most variable_cost")
        sectors[key] = Sector(
            key=key, name=raw["name"], output_unit=raw["output_unit"], **numbers, **flows
        )
    technologies = []
    for sector, entries in (technology_data or {}).items():
        if sector not in sectors:
            raise ConfigError(f"abatement.{sector}", f"unknown sector; allowed: {', '.join(sectors)}")
        for i, raw in enumerate(entries):
            key = f"abatement.{sector}[{i}]"
            numbers = {f: _number(raw.get(f), f"{key}.{f}", provenance) for f in TECHNOLOGY_NUMBERS}
            if not 0 < numbers["share"] < 1 or numbers["lifetime"] < 1:
                raise ConfigError(key, "share must be between 0 and 1 and lifetime at least 1 month")
            technologies.append(Technology(sector=sector, name=raw["name"], **numbers))
    return Catalogue(sectors=sectors, streams=streams, provenance=provenance, technologies=tuple(technologies))


@lru_cache(maxsize=4)
def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load the catalogue shipped with ecopark, or the one in folder ``path``."""
    return parse_catalogue(_read("sectors.toml", path), _read("streams.toml", path), _read("abatement.toml", path))


INFRASTRUCTURE_NUMBERS = ("capex_fixed", "capex_per_km", "trunk_km_per_km", "opex", "lifetime",
                          "link_capex_saving", "transport_saving")


@dataclass(frozen=True)
class InfrastructureKind:
    """Shared infrastructure the operator can build (data: ``ecopark/data/infrastructure.toml``)."""

    key: str
    name: str
    streams: tuple[str, ...]  # the streams it carries
    capex_fixed: float  # yuan
    capex_per_km: float  # yuan per km of trunk
    trunk_km_per_km: float  # km of trunk per km of the park's side
    opex: float  # yuan/month
    lifetime: float  # months
    link_capex_saving: float  # share of a connected pair's link capex saved
    transport_saving: float  # share of a connected pair's transport cost saved
    tariff: dict[str, float]  # stream -> yuan per unit carried


def parse_infrastructure(data: dict[str, Any], streams: tuple[str, ...]) -> dict[str, InfrastructureKind]:
    """Validate the infrastructure table against the stream keys."""
    provenance: dict[str, tuple[str, str]] = {}
    kinds = {}
    for key, raw in data.items():
        numbers = {f: _number(raw.get(f), f"infrastructure.{key}.{f}", provenance) for f in INFRASTRUCTURE_NUMBERS}
        served = tuple(raw.get("streams", ()))
        for stream in served:
            if stream not in streams:
                raise ConfigError(f"infrastructure.{key}.streams", f"unknown stream {stream!r}; allowed: "
                                                                  f"{', '.join(streams)}")
        tariff = {s: _number(raw.get("tariff", {}).get(s), f"infrastructure.{key}.tariff.{s}", provenance)
                  for s in served}
        for share in ("link_capex_saving", "transport_saving"):
            if not 0 <= numbers[share] <= 1:
                raise ConfigError(f"infrastructure.{key}.{share}", "allowed: a share from 0 to 1")
        kinds[key] = InfrastructureKind(key=key, name=raw["name"], streams=served, tariff=tariff, **numbers)
    return kinds


@lru_cache(maxsize=1)
def load_infrastructure() -> dict[str, InfrastructureKind]:
    """The shared-infrastructure kinds shipped with ecopark."""
    return parse_infrastructure(_read("infrastructure.toml", None), load_catalogue().stream_keys)
# -- in-plant recycling technologies (ecopark/data/recycling.toml) ------------------------------
@dataclass(frozen=True)
class RecyclingTechnology:
    """An in-plant recycling unit for one stream (for the sector's typical firm; money scales with size)."""

    stream: str
    name: str
    share: float  # share of the firm's generation of the stream (at normal output) it can recycle
    capex: float  # yuan
    fixed_opex: float  # yuan/month
    unit_cost: float  # yuan per unit recycled
    recovery_value: float  # yuan per unit recycled: the recovered material's worth to the firm
    lifetime: float  # months


RECYCLING_NUMBERS = ("share", "capex", "fixed_opex", "unit_cost", "recovery_value", "lifetime")


def parse_recycling(data: dict[str, Any], streams: tuple[str, ...]) -> tuple[RecyclingTechnology, ...]:
    """Validate the raw recycling table (stream -> list of technologies)."""
    provenance: dict[str, tuple[str, str]] = {}
    techs = []
    for stream, entries in data.items():
        if stream not in streams:
            raise ConfigError(f"recycling.{stream}", f"unknown stream; allowed: {', '.join(streams)}")
        for i, raw in enumerate(entries):
            key = f"recycling.{stream}[{i}]"
            numbers = {f: _number(raw.get(f), f"{key}.{f}", provenance) for f in RECYCLING_NUMBERS}
            if not 0 < numbers["share"] <= 1 or numbers["lifetime"] < 1 or numbers["capex"] < 0:
                raise ConfigError(key, "share must be in (0, 1], lifetime at least 1 month, capex >= 0")
            techs.append(RecyclingTechnology(stream=stream, name=raw["name"], **numbers))
    return tuple(techs)


@lru_cache(maxsize=4)
def load_recycling(path: Path | None = None) -> tuple[RecyclingTechnology, ...]:
    """In-plant recycling technologies shipped with ecopark, or those in folder ``path``."""
    return parse_recycling(_read("recycling.toml", path), load_catalogue(path).stream_keys)
