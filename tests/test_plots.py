"""Sweep figures and the cost-effectiveness table (ecopark/experiments/plots.py, effectiveness.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecopark.experiments import plots
from ecopark.experiments.batch import sweep
from ecopark.experiments.effectiveness import cost_effectiveness
from ecopark.schema import ConfigError

T_975_2 = 4.302652729911275  # Student's t, 97.5% quantile, 2 degrees of freedom


def _runs() -> pd.DataFrame:
    """Two points (share 0 and 0.3), three replications sharing seeds across points."""
    return pd.DataFrame({
        "run": range(6), "point": [0, 0, 0, 1, 1, 1], "replication": [0, 1, 2] * 2, "seed": [11, 12, 13] * 2,
        "param:policies.capex_subsidy.share": [0.0] * 3 + [0.3] * 3,
        "links_formed_total": [1.0, 2.0, 3.0, 3.0, 5.0, 4.0],
        "fiscal_cost": [10.0, 20.0, 30.0, 200.0, 220.0, 240.0],
        "status": ["ok"] * 6,
    })


def test_cost_effectiveness_matches_a_hand_computation():
    table = cost_effectiveness(_runs(), "links_formed_total", per=100.0)
    row = table.iloc[0]
    # paired differences per replication: d = [2, 3, 1], c = [190, 200, 210]
    assert row["pairs"] == 3 and row["param:policies.capex_subsidy.share"] == 0.3
    assert row["effect"] == pytest.approx(2.0)
    assert row["effect_half"] == pytest.approx(T_975_2 * 1.0 / np.sqrt(3))
    assert row["extra_cost"] == pytest.approx(200.0)
    assert row["extra_cost_half"] == pytest.approx(T_975_2 * 10.0 / np.sqrt(3))
    # ratio R = 2 / 200 per yuan; delta method: d - R c = [0.1, 1.0, -1.1], sd sqrt(1.11)
    half = T_975_2 * np.sqrt(1.11) / np.sqrt(3) / 200.0
    assert row["per_yuan"] == pytest.approx(1.0)
    assert (row["per_yuan_low"], row["per_yuan_high"]) == pytest.approx((100 * (0.01 - half), 100 * (0.01 + half)))
    assert bool(row["clear_of_zero"]) is False  # effect interval (2 +- 2.48) includes zero


def test_cost_effectiveness_pairs_by_replication_not_by_row_order():
    runs = _runs().sample(frac=1.0, random_state=3)
    assert cost_effectiveness(runs, "links_formed_total")["effect"].iloc[0] == pytest.approx(2.0)


def test_cost_effectiveness_refuses_unpaired_runs_and_a_missing_baseline():
    runs = _runs()
    runs.loc[3, "seed"] = 99
    with pytest.raises(ConfigError, match="share seeds"):
        cost_effectiveness(runs, "links_formed_total")
    with pytest.raises(ConfigError, match="baseline"):
        cost_effectiveness(_runs(), "links_formed_total", baseline={"policies.capex_subsidy.share": 0.5})


def test_labels_are_words_with_units():
    assert plots.parameter_label("policies.capex_subsidy.share") == "capex subsidy share (share of capex)"
    assert plots.parameter_label("policies.landfill_tax.rate") == "landfill tax rate (yuan/t)"
    assert plots.outcome_label("fiscal_cost", "M") == "fiscal cost (M yuan)"
    assert plots.safe_name("../x y") == "_x_y"


@pytest.fixture(scope="module")
def three_way_sweep(tmp_path_factory):
    """A 2 x 2 x 2 grid (a boolean among them), two replications, 2 months: 16 small runs."""
    out = tmp_path_factory.mktemp("sweep")
    spec = {"scenario": "generic", "steps": 2, "replications": 2, "seed": 5,
            "outcomes": ["links_formed_total", "fiscal_cost"],
            "grid": {"policies.capex_subsidy.share": [0.0, 0.3], "policies.landfill_tax.rate": [0.0, 50.0],
                     "policies.platform.enabled": [False, True]}}
    sweep(spec, out, workers=1, progress=False)
    return out


def test_plot_writes_an_index_of_every_figure_and_names_the_third_parameter(three_way_sweep):
    paths = plots.plot_results(three_way_sweep, ["links_formed_total"])
    index = paths[-1]
    assert index.name == "figures.md"
    text = index.read_text()
    for path in paths[:-1]:
        assert path.exists() and f"]({path.name})" in text
    # every line plot has a series parameter and a panel parameter: the third is never averaged silently
    plot_lines = [line for line in text.splitlines() if line.startswith("- [plot-")]
    assert len(plot_lines) == 3 and all("series by" in line and "panels by" in line for line in plot_lines)
    assert "heatmap-links_formed_total" in text and "cost-effectiveness-links_formed_total" in text
    table = pd.read_csv(three_way_sweep / "cost-effectiveness-links_formed_total.csv")
    assert len(table) == 7 and {"effect", "effect_half", "per_yuan_low", "per_yuan_high"} <= set(table.columns)


def test_sensitivity_indices_become_a_bar_chart(tmp_path):
    indices = pd.DataFrame({"parameter": ["policies.landfill_tax.rate"], "outcome": ["fiscal_cost"],
                            "S1": [0.4], "S1_conf": [0.1], "ST": [0.5], "ST_conf": [0.1], "method": ["sobol"]})
    fig, caption = plots._sensitivity_figure(indices)
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 2 and "95% intervals" in caption


def _grid_runs() -> pd.DataFrame:
    """A synthetic 3 x 2 x 2 grid (a boolean among them), two replications each."""
    rows = []
    for share in (0.0, 0.15, 0.3):
        for on in (False, True):
            for rate in (0.0, 50.0):
                for rep in (0, 1):
                    rows.append({"replication": rep, "seed": rep, "param:policies.capex_subsidy.share": share,
                                 "param:policies.platform.enabled": on, "param:policies.landfill_tax.rate": rate,
                                 "links_formed_total": 10 + 20 * share + 3 * on + rate / 50 + rep})
    return pd.DataFrame(rows)


def test_boolean_x_is_drawn_as_points_and_series_differ_in_marker_and_line():
    runs = _grid_runs()
    params = ["param:policies.capex_subsidy.share", "param:policies.platform.enabled",
              "param:policies.landfill_tax.rate"]
    fig, caption = plots._line_figure(runs, "links_formed_total", params[1], [params[0], params[2]])
    ax = fig.axes[0]
    drawn = [c.lines[0] for c in ax.containers]  # each series' means (error bars aside)
    assert len(drawn) == 3 and all(line.get_linestyle() == "None" for line in drawn)  # no line joins false and true
    assert [t.get_text() for t in ax.get_xticklabels()] == ["False", "True"]
    assert "series by policies.capex_subsidy.share" in caption and "panels by policies.landfill_tax.rate" in caption
    fig, _ = plots._line_figure(runs, "links_formed_total", params[0], [params[1], params[2]])
    series = [c.lines[0] for c in fig.axes[0].containers]
    assert len({line.get_marker() for line in series}) == len(series) == 2
    assert len({str(line.get_linestyle()) for line in series}) == 2
    xs = [tuple(line.get_xdata()) for line in series]
    assert xs[0] != xs[1]  # dodged sideways: the two series' intervals do not sit on each other


def test_heatmap_cells_carry_their_values_and_a_fourth_parameter_is_named():
    runs = _grid_runs()
    runs["param:credit.green_discount_bp"] = 40.0
    runs = pd.concat([runs, runs.assign(**{"param:credit.green_discount_bp": 80.0})])
    params = ["param:policies.capex_subsidy.share", "param:policies.landfill_tax.rate",
              "param:policies.platform.enabled", "param:credit.green_discount_bp"]
    fig, caption = plots._heatmap_figure(runs, "links_formed_total", params[0], params[1], params[2:])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2  # one panel per value of the third parameter
    texts = [float(t.get_text()) for t in panels[0].texts]
    expected = runs[~runs[params[2]]].groupby([params[0], params[1]])["links_formed_total"].mean()
    assert sorted(texts) == pytest.approx(sorted(expected.round(1)), abs=0.06)
    assert "averaged over credit.green_discount_bp" in caption
