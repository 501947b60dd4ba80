import pytest

from ecopark.catalogue import SECTOR_NUMBERS, STREAM_NUMBERS, load_catalogue, parse_catalogue
from ecopark.schema import ConfigError


def test_catalogue_has_ten_sectors_and_streams_with_units_and_sources():
    cat = load_catalogue()
    assert len(cat.sectors) >= 10 and len(cat.streams) >= 10
    for key in cat.sectors:
        for field in SECTOR_NUMBERS:
            unit, source = cat.provenance[f"sectors.{key}.{field}"]
            assert unit and source
    for key in cat.streams:
        for field in STREAM_NUMBERS:
            assert all(cat.provenance[f"streams.{key}.{field}"])


def test_every_stream_has_a_generator_and_a_user():
    cat = load_catalogue()
    yields, needs = cat.yield_matrix(), cat.need_matrix()
    for j, key in enumerate(cat.stream_keys):
        assert yields[:, j].any(), f"no sector generates {key}"
        assert needs[:, j].any(), f"no sector uses {key}"


def test_malformed_catalogue_names_the_key():
    with pytest.raises(ConfigError, match=r"streams\.x\.disposal_cost: expected a table"):
        parse_catalogue({}, {"x": {"name": "X", "unit": "t", "piped": False, "landfilled": False,
                                   "hazardous": False, "credited_to": "receiver", "virgin_price": 5}})
    good = {"value": 1, "unit": "u", "source": "s"}
    stream = {"name": "X", "unit": "t", "piped": False, "landfilled": False, "hazardous": False,
              "credited_to": "receiver", **{f: good for f in STREAM_NUMBERS}}
    sector = {"name": "S", "output_unit": "t", **{f: good for f in SECTOR_NUMBERS}, "yields": {"nope": good}}
    with pytest.raises(ConfigError, match=r"sectors\.s\.yields\.nope"):
        parse_catalogue({"s": sector}, {"x": stream})
