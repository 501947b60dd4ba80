"""Heat cascade: heat received through links is passed on as low-grade heat, so that smelter and
data-centre heat reaches more greenhouses and livestock houses through chains of three firms."""

import numpy as np
import pytest

from ecopark.catalogue import load_catalogue
from ecopark.metrics import compute_run_metrics
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, presets

STEPS = 36


def run(overrides: tuple[str, ...] = (), seed: int = 1) -> ParkModel:
    model = ParkModel(load_scenario("liaocheng", list(overrides)), seed=seed)
    for _ in range(STEPS):
        model.step()
    return model


@pytest.fixture(scope="module")
def liaocheng() -> ParkModel:
    return run()


def test_cascade_yields_conserve_energy():
    cat = load_catalogue()
    cascade = cat.cascade_matrix()
    for i, key in enumerate(cat.stream_keys):
        for j, other in enumerate(cat.stream_keys):
            if cascade[i, j] and cat.streams[key].unit == cat.streams[other].unit == "GJ":
                assert cascade[i, j] < 1, f"{key} passes on more heat than it carries"
    steam = cat.stream_keys.index("steam")
    assert 0 < cascade[steam].sum() * 1.0 < 2.8  # GJ passed on per t of steam (2.8 GJ/t)


def test_smelter_heat_reaches_greenhouses_and_livestock_through_chains_of_three_firms(liaocheng):
    model = liaocheng
    chains = compute_run_metrics(model, ["heat_cascade_chains_final", "exchange_chains_final"])
    assert chains["heat_cascade_chains_final"] >= 1
    links, firms, keys = model.byproduct_market.links, model.firms, model.catalogue.stream_keys
    live = links.live
    sector = np.array(model.catalogue.sector_keys)
    heat = live[links.stream[live] == keys.index("waste_heat")]
    low = live[links.stream[live] == keys.index("low_grade_heat")]
    firsts = {(int(links.supplier[i]), int(links.receiver[i])) for i in heat}
    chains_by_sector = {(sector[firms.sector[a]], sector[firms.sector[b]], sector[firms.sector[links.receiver[j]]])
                        for a, b in firsts for j in low if links.supplier[j] == b and links.delivered[j] > 0}
    assert any(a in ("aluminium", "copper", "data_centre") and b == "greenhouse" for a, b, _ in chains_by_sector)
    # the second leg appears in the existing chain count as its own (stream, sector, sector)
    off = run(("park.heat_cascade=false",))
    off_chains = compute_run_metrics(off, ["heat_cascade_chains_final", "exchange_chains_final"])
    assert off_chains["heat_cascade_chains_final"] == 0
    assert chains["exchange_chains_final"] > off_chains["exchange_chains_final"]
    assert off.stream_totals["generated"][keys.index("low_grade_heat")] == 0


def test_low_grade_heat_generated_is_last_months_intake_times_the_yield(liaocheng):
    model = run(seed=2)
    cascade = model.heat_cascade.matrix
    before = model.firms.delivered_in[: model.firms.n].copy()
    generated_before = model.stream_totals["generated"].copy()
    model.step()
    rows = model.firms.live
    rows = rows[rows < len(before)]
    k = model.catalogue.stream_keys.index("low_grade_heat")
    expected = (before[rows] @ cascade)[:, k].sum()
    assert expected > 0
    assert model.heat_cascade.passed_on[k] == pytest.approx(expected)
    passed = model.stream_totals["generated"][k] - generated_before[k]
    assert passed == pytest.approx(expected)  # no sector yields low-grade heat from production
    totals = model.stream_totals
    assert np.allclose(totals["generated"], totals["delivered"] + totals["recycled"] + totals["disposed"])


def test_every_preset_balances_with_every_mechanism_of_issue_17a_on():
    on = ['operator.infrastructure.kinds=["heat_network", "hydrogen_pipeline", "central_treatment"]',
          "operator.infrastructure.ppp_share=0.3", "operator.infrastructure.loan_tenor_months=12",
          "operator.services.enabled=true", "operator.services.mrv_cost=40000", "park.heat_cascade=true"]
    for name in presets():
        model = ParkModel(load_scenario(name, on), seed=4)
        model.step()
        infra = model.infrastructure
        built = {p.kind.key for p in infra.projects}
        for key, kind in infra.kinds.items():  # whatever the NPV says, build everything
            if key not in built:
                infra.build(kind, infra.expected_fees(kind))
        for _ in range(24):
            model.step()
            assert model.ledger.total() == 0, name
            assert model.allowances.total() == 0, name
        totals = model.stream_totals
        assert np.allclose(totals["generated"], totals["delivered"] + totals["recycled"] + totals["disposed"]), name
        # the three kinds are built (a preset whose operator sells green power or water has PV and
        # water-plant projects besides them)
        assert set(infra.kinds) <= {p.kind.key for p in infra.projects}, name
        assert model.ledger.flow("infrastructure_opex") > 0, name


def test_a_bad_cascade_yield_names_the_key():
    from ecopark.catalogue import STREAM_NUMBERS, parse_catalogue
    from ecopark.schema import ConfigError
    number = {"value": 1.0, "unit": "x", "source": "test"}
    stream = {"name": "X", "unit": "GJ", "piped": True, "landfilled": False, "hazardous": False,
              "credited_to": "receiver", **{f: {**number, "value": 0.5} for f in STREAM_NUMBERS}}
    with pytest.raises(ConfigError, match=r"streams\.heat\.cascade\.nowhere: unknown or same stream"):
        parse_catalogue({}, {"heat": {**stream, "cascade": {"nowhere": number}}})
    with pytest.raises(ConfigError, match=r"streams\.heat\.cascade\.low: value -1.0 is negative"):
        parse_catalogue({}, {"heat": {**stream, "cascade": {"low": {**number, "value": -1.0}}}, "low": stream})
    with pytest.raises(ConfigError, match=r"streams\.heat\.cascade\.low: value 1.0 passes on as much"):
        parse_catalogue({}, {"heat": {**stream, "cascade": {"low": number}}, "low": stream})
