"""ecopark compare and ecopark design (issue 25): ranking, who gains, the search, resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecopark.experiments.compare import VERDICTS, compare, frontier, load_compare, rank
from ecopark.experiments.design import Candidate, design, load_design
from ecopark.experiments.runner import simulate
from ecopark.metrics import compute_run_metrics
from ecopark.schema import ConfigError, to_dict

ROOT = Path(__file__).resolve().parents[1]


def _runs(points: dict[int, tuple[str, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """A runs table: point -> (instrument, outcome per replication, fiscal_cost per replication)."""
    rows = []
    for point, (name, y, c) in points.items():
        for k, (yk, ck) in enumerate(zip(y, c, strict=True)):
            rows.append({"point": point, "instrument": name, "dose": "on" if point else "", "replication": k,
                         "reuse_rate_mass_total": yk, "fiscal_cost": ck, "status": "ok"})
    return pd.DataFrame(rows)


NOISE = np.array([0.01, -0.02, 0.015, -0.005, 0.0, 0.01])


def test_revenue_raising_instrument_ranks_above_a_costly_one_with_the_same_effect():
    base = 0.3 + NOISE
    table = rank(_runs({
        0: ("baseline", base, np.full(6, 1e8) + NOISE * 1e8),
        1: ("subsidy", base + 0.1 + NOISE / 10, np.full(6, 4e8) + NOISE * 1e8),     # costs 300 M more
        2: ("tax", base + 0.1 + NOISE / 10, np.full(6, -2e8) + NOISE * 2e8),        # raises 300 M
    }), "reuse_rate_mass_total")
    assert list(table["instrument"]) == ["tax", "subsidy"]
    tax, subsidy = table.iloc[0], table.iloc[1]
    assert tax["verdict"] == "gains and raises money" and tax["net_cost"] < 0
    assert subsidy["verdict"] == "gains at a cost"
    assert subsidy["cost_per_unit"] == pytest.approx(3e8 / 0.1, rel=0.05)  # yuan per unit of reuse rate
    assert bool(tax["on_frontier"]) and not bool(subsidy["on_frontier"])  # the tax dominates the subsidy


def test_no_effect_is_a_verdict_not_nan_and_costly_options_rank_by_cost_per_unit():
    base = 0.3 + NOISE
    table = rank(_runs({
        0: ("baseline", base, np.zeros(6)),
        1: ("noise", base + NOISE[::-1], np.full(6, 1e8)),                  # no measurable effect
        2: ("dear", base + 0.05 + NOISE / 10, np.full(6, 3e8) + NOISE * 1e7),   # 6e9 yuan per unit
        3: ("cheap", base + 0.05 + NOISE / 10, np.full(6, 1e8) + NOISE * 1e7),  # 2e9 yuan per unit
        4: ("free", base + 0.02 + NOISE / 10, NOISE * 1e7),                 # cost not clear of zero
    }), "reuse_rate_mass_total")
    assert list(table["instrument"]) == ["free", "cheap", "dear", "noise"]
    assert table.set_index("instrument").loc["noise", "verdict"] == "no measurable effect at this dose"
    assert table.set_index("instrument").loc["free", "verdict"] == VERDICTS[1]
    assert table["verdict"].notna().all()


def test_frontier_keeps_the_undominated_points():
    on = frontier(np.array([-1.0, 1.0, 2.0, 3.0]), np.array([0.5, 1.0, 0.8, 2.0]))
    assert list(on) == [True, True, False, True]


SPEC = {"presets": ["generic"], "steps": 6, "replications": 2, "seed": 5,
        "outcome": "reuse_rate_mass_total", "baseline": {"policies.capex_subsidy.share": 0.0},
        "instruments": [{"name": "landfill tax", "key": "policies.landfill_tax.rate", "doses": [150.0]},
                        {"name": "platform", "set": {"policies.platform.enabled": True}}]}


def test_who_gains_sums_to_the_total_change_in_the_ledger(tmp_path):
    result = compare(SPEC, tmp_path / "cmp", progress=False, figures=False)
    who = result.who_gains
    for (_, point), rows in who.groupby(["preset", "point"]):
        parties = rows[~rows["party"].str.startswith("sector:")].set_index("party")["change"]
        sectors = rows[rows["party"].str.startswith("sector:")]["change"]
        assert set(parties.index) == {"firms", "operator", "bank", "government", "outside_buyers",
                                      "outside_suppliers"}
        scale = parties.abs().max()
        assert abs(parties.sum()) <= 1e-9 * scale + 1.0  # the ledger is closed: every gain is someone's loss
        assert sectors.sum() == pytest.approx(parties["firms"], rel=1e-9, abs=1.0)
        cost = result.effects[(result.effects["point"] == point) & (result.effects["measure"] == "fiscal_cost")]
        assert parties["government"] == pytest.approx(-cost["change"].iloc[0], abs=1.0)  # one sign convention
    # and per run: public spending - revenue is fiscal_cost
    runs = result.runs
    assert np.allclose(runs["public:spending"] - runs["public:revenue"], runs["fiscal_cost"], atol=1.0)
    assert (tmp_path / "cmp" / "report.md").read_text().count("| rank |") == 1


def test_gains_match_a_direct_run():
    model = simulate("generic", steps=6, seed=1, overrides={"policies.landfill_tax.rate": 150.0})
    from ecopark.experiments.incidence import gains

    g = gains(model)
    assert g["gain:government"] == pytest.approx(-compute_run_metrics(model, ["fiscal_cost"])["fiscal_cost"])
    assert sum(v for k, v in g.items() if k.count(":") == 1) == pytest.approx(0.0, abs=1.0)


def test_compare_spec_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"instruments\[0\].doses"):
        load_compare({**SPEC, "instruments": [{"name": "x", "key": "policies.landfill_tax.rate"}]})
    with pytest.raises(ConfigError, match="outcome"):
        load_compare({**SPEC, "outcome": "nope"})
    with pytest.raises(ConfigError, match=r"landfill_tax\.rate"):
        load_compare({**SPEC, "instruments": [{"name": "x", "key": "policies.landfill_tax.rate", "doses": [-5.0]}]})


def _cli(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "ecopark", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def test_compare_resumes_after_sigkill_with_the_same_result(tmp_path):
    spec = tmp_path / "cmp.toml"
    spec.write_text('presets = ["generic"]\nsteps = 6\nreplications = 3\nseed = 5\n'
                    '[baseline]\n"policies.capex_subsidy.share" = 0.0\n'
                    '[[instruments]]\nname = "landfill tax"\nkey = "policies.landfill_tax.rate"\ndoses = [150.0]\n'
                    '[[instruments]]\nname = "platform"\nset = { "policies.platform.enabled" = true }\n')
    whole = _cli(["compare", str(spec), "--quiet", "--out", str(tmp_path / "whole")])
    assert whole.wait(300) == 0, whole.stderr.read()
    killed = _cli(["compare", str(spec), "--quiet", "--out", str(tmp_path / "killed")])
    parts = tmp_path / "killed" / "generic" / "parts"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("run-*.json"))) < 3:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert 3 <= len(list(parts.glob("run-*.json"))) < 9  # killed mid-way
    again = _cli(["compare", str(spec), "--quiet", "--out", str(tmp_path / "killed")])
    assert again.wait(300) == 0, again.stderr.read()
    for name in ("ranking.csv", "who_gains.csv", "effects.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole" / name), pd.read_csv(tmp_path / "killed" / name))


# -- design -----------------------------------------------------------------------------------------
def _noise(k: int) -> float:
    return 0.02 * float(np.random.default_rng(1000 + k).standard_normal())


def synthetic(spec):
    """A problem with a known optimum: reuse = 0.2 + 0.5 a + 0.3 b + noise_k, cost = 100 a + 50 b;
    b buys reuse at 50/0.3 = 167 a unit, a at 200, so the cheapest mix uses b alone."""
    calls = []

    def evaluate(levers, stage, fresh):
        reps = spec.search.verify_replications if fresh else spec.replications
        offset = spec.replications if fresh else 0
        out = []
        for values in levers:
            calls.append(values)
            a, b = values["a"], values["b"]
            rows = [{"fiscal_cost": 100 * a + 50 * b, "reuse_rate_mass_total": 0.2 + 0.5 * a + 0.3 * b
                     + _noise(offset + k)} for k in range(reps)]
            out.append(Candidate(len(calls), stage, values, {"synthetic": pd.DataFrame(rows)}))
        return out
    return evaluate, calls


@pytest.mark.parametrize("refine", ["nelder-mead", "differential_evolution"])
def test_design_finds_the_known_optimum_of_a_synthetic_problem(tmp_path, refine):
    spec = load_design({"presets": ["synthetic"], "replications": 10, "seed": 3,
                        "levers": {"a": [0.0, 1.0], "b": [0.0, 1.0]},
                        "targets": [{"metric": "reuse_rate_mass_total", "at_least": 0.45, "probability": 0.9}],
                        "search": {"n": 12, "refine": refine, "iterations": 60 if refine == "nelder-mead" else 12,
                                   "verify_replications": 10}})
    evaluate, _ = synthetic(spec)
    result = design(spec, tmp_path / refine, evaluator=evaluate, progress=False)
    noise = np.sort([_noise(k) for k in range(10)])
    b_star = (0.25 - noise[1]) / 0.3  # one miss in ten allowed at probability 0.9
    cost = 100 * result.best["a"] + 50 * result.best["b"]
    assert cost == pytest.approx(50 * b_star, rel=0.02 if refine == "nelder-mead" else 0.05)
    assert result.best["a"] < 0.05
    marginal = result.marginal.set_index("lever")
    assert marginal.loc["b", "cost_per_unit_outcome"] == pytest.approx(50 / 0.3, rel=1e-6)
    assert marginal.loc["a", "cost_per_unit_outcome"] == pytest.approx(200, rel=1e-6)
    assert result.pareto["net_cost"].is_monotonic_increasing
    assert (tmp_path / refine / "report.md").is_file() and (tmp_path / refine / "pareto.png").is_file()


def test_design_reports_when_no_mix_meets_the_target(tmp_path):
    spec = load_design({"presets": ["synthetic"], "replications": 4, "levers": {"a": [0.0, 1.0], "b": [0.0, 1.0]},
                        "targets": [{"metric": "reuse_rate_mass_total", "at_least": 5.0}],
                        "search": {"n": 4, "refine": "none"}})
    result = design(spec, tmp_path / "none", evaluator=synthetic(spec)[0], progress=False)
    assert result.best is None
    assert "No candidate met the targets" in (tmp_path / "none" / "report.md").read_text()


def test_design_spec_errors_name_the_key():
    base = {"levers": {"policies.landfill_tax.rate": [0.0, 100.0]},
            "targets": [{"metric": "reuse_rate_mass_total", "at_least": 0.4}]}
    with pytest.raises(ConfigError, match=r"search\.refine"):
        load_design({**base, "search": {"refine": "annealing"}})
    with pytest.raises(ConfigError, match="at_least"):
        load_design({**base, "targets": [{"metric": "reuse_rate_mass_total"}]})
    with pytest.raises(ConfigError, match=r"landfill_tax\.rate"):
        load_design({**base, "levers": {"policies.landfill_tax.rate": [-10.0, 100.0]}}).check_scenarios()
    with pytest.raises(ConfigError, match=r"search\.population"):
        load_design({**base, "search": {"refine": "differential_evolution", "n": 4}})


def test_design_on_the_model_resumes_without_running_again(tmp_path):
    spec = {"presets": ["generic"], "steps": 3, "replications": 2, "seed": 1,
            "levers": {"policies.reuse_subsidy.rate": [0.0, 100.0],
                       "policies.platform.enabled": {"choices": [False, True]}},
            "targets": [{"metric": "reuse_rate_mass_total", "at_least": 0.0, "probability": 0.5}],
            "search": {"n": 3, "refine": "nelder-mead", "iterations": 3, "verify_replications": 2}}
    first = design(spec, tmp_path / "d", progress=False)
    manifest = (tmp_path / "d" / "manifest.json").read_text()
    assert '"runs_this_session": 0' not in manifest
    second = design(spec, tmp_path / "d", progress=False)
    assert '"runs_this_session": 0' in (tmp_path / "d" / "manifest.json").read_text()
    assert first.best == second.best and first.runs == second.runs
    pd.testing.assert_frame_equal(first.evaluations, second.evaluations)


# -- plots --------------------------------------------------------------------------------------------
def test_plot_draws_no_per_yuan_figure_of_a_share_of_a_split(tmp_path):
    from ecopark.experiments import plots
    from ecopark.experiments.batch import sweep

    spec = {"scenario": "generic", "steps": 2, "replications": 2, "seed": 5,
            "outcomes": ["links_formed_total", "surplus_share_supplier", "gini_link_gains", "fiscal_cost"],
            "grid": {"policies.platform.enabled": [False, True]}}
    sweep(spec, tmp_path, progress=False)
    names = {p.name for p in plots.plot_results(tmp_path)}
    assert "cost-effectiveness-links_formed_total.png" in names
    assert not any(n.startswith(("cost-effectiveness-surplus_share", "cost-effectiveness-gini")) for n in names)
    assert "no cost-effectiveness figure of surplus_share_supplier, gini_link_gains" in \
        (tmp_path / "figures.md").read_text()


def test_legend_says_what_a_ratio_cannot():
    from ecopark.experiments.plots import ratio_text

    row = {"effect": 0.02, "effect_half": 0.005, "extra_cost": -3e8, "extra_cost_half": 1e8, "per_yuan": -0.0067}
    assert ratio_text(row, "reuse_rate_mass_total", 1e8) == "raises money and gains"
    assert ratio_text({**row, "effect_half": 0.03}, "reuse_rate_mass_total", 1e8) == "no measurable effect"
    assert ratio_text({**row, "extra_cost": 3e8, "per_yuan": 0.0067}, "reuse_rate_mass_total", 1e8) == \
        "0.67 percentage points per 100 M yuan"


def test_compare_on_a_dask_cluster_gives_the_local_tables(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = {**SPEC, "instruments": SPEC["instruments"][1:]}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = compare(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False, figures=False)
    local = compare(spec, tmp_path / "local", progress=False, figures=False)
    pd.testing.assert_frame_equal(remote.ranking, local.ranking)
    pd.testing.assert_frame_equal(remote.who_gains, local.who_gains)


@pytest.mark.parametrize("argv", [
    ["compare", "{tmp}/bad.toml", "--out", "{tmp}/c"], ["design", "{tmp}/bad.toml", "--out", "{tmp}/d"],
    ["compare", "instruments", "--out", "{tmp}/a_file"],
    ["design", "reuse_target", "--workers", "0", "--out", "{tmp}/d"],
    ["compare", "{tmp}/dose.toml", "--out", "{tmp}/c"], ["design", "{tmp}/lever.toml", "--out", "{tmp}/d"],
])
def test_bad_specs_exit_2_with_one_line_before_any_run(argv, tmp_path, capsys, monkeypatch):
    from ecopark import cli
    from ecopark.experiments import runner

    (tmp_path / "bad.toml").write_text("presets = [\n")
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "dose.toml").write_text('[[instruments]]\nname = "t"\nkey = "policies.landfill_tax.rate"\n'
                                        "doses = [-1.0]\n")
    (tmp_path / "lever.toml").write_text('[levers]\n"policies.landfill_tax.rate" = [0.0, 1e9]\n'
                                         '[[targets]]\nmetric = "reuse_rate_mass_total"\nat_least = 0.4\n')
    monkeypatch.setattr(runner, "ParkModel", lambda *a, **k: pytest.fail("ran before checking its input"))
    assert cli.main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_design_resumes_after_sigkill_with_the_same_result(tmp_path):
    spec = tmp_path / "design.toml"
    spec.write_text('presets = ["generic"]\nsteps = 3\nreplications = 2\nseed = 1\n'
                    '[levers]\n"policies.reuse_subsidy.rate" = [0.0, 100.0]\n'
                    '"policies.platform.enabled" = { choices = [false, true] }\n'
                    '[[targets]]\nmetric = "reuse_rate_mass_total"\nat_least = 0.0\nprobability = 0.5\n'
                    '[search]\nn = 3\nrefine = "nelder-mead"\niterations = 3\nverify_replications = 2\n')
    whole = _cli(["design", str(spec), "--quiet", "--out", str(tmp_path / "whole")])
    assert whole.wait(300) == 0, whole.stderr.read()
    killed = _cli(["design", str(spec), "--quiet", "--out", str(tmp_path / "killed")])
    parts = tmp_path / "killed" / "generic" / "parts"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("run-*.json"))) < 4:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "evaluations.csv").exists()  # killed before the end
    again = _cli(["design", str(spec), "--quiet", "--out", str(tmp_path / "killed")])
    assert again.wait(300) == 0, again.stderr.read()
    for name in ("evaluations.csv", "robustness.csv", "marginal.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole" / name), pd.read_csv(tmp_path / "killed" / name))


def test_design_on_two_presets_meets_the_target_on_the_harder_one(tmp_path):
    spec = load_design({"presets": ["easy", "hard"], "replications": 10, "seed": 3,
                        "levers": {"a": [0.0, 1.0], "b": [0.0, 1.0]},
                        "targets": [{"metric": "reuse_rate_mass_total", "at_least": 0.45, "probability": 0.9}],
                        "search": {"n": 12, "refine": "nelder-mead", "iterations": 60, "verify_replications": 10}})
    base = {"easy": 0.25, "hard": 0.2}  # the hard park starts lower: it sets the dose

    def evaluate(levers, stage, fresh):
        reps = spec.search.verify_replications if fresh else spec.replications
        offset = spec.replications if fresh else 0
        return [Candidate(i, stage, v, {p: pd.DataFrame([{"fiscal_cost": 100 * v["a"] + 50 * v["b"],
                                                          "reuse_rate_mass_total": b0 + 0.5 * v["a"] + 0.3 * v["b"]
                                                          + _noise(offset + k)} for k in range(reps)])
                                        for p, b0 in base.items()}) for i, v in enumerate(levers)]

    result = design(spec, tmp_path / "two", evaluator=evaluate, progress=False)
    b_star = (0.25 - np.sort([_noise(k) for k in range(10)])[1]) / 0.3
    assert 50 * result.best["b"] + 100 * result.best["a"] == pytest.approx(50 * b_star, rel=0.02)
    assert list(result.robustness["preset"]) == ["easy", "hard"]


def test_design_on_a_dask_cluster_gives_the_local_result(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = {"presets": ["generic"], "steps": 2, "replications": 2, "seed": 1,
            "levers": {"policies.reuse_subsidy.rate": [0.0, 100.0]},
            "targets": [{"metric": "reuse_rate_mass_total", "at_least": 0.0, "probability": 0.5}],
            "search": {"n": 3, "refine": "none", "verify_replications": 2}}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = design(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    local = design(spec, tmp_path / "local", progress=False)
    assert remote.best == local.best
    pd.testing.assert_frame_equal(remote.evaluations, local.evaluations)


def test_design_verifies_the_next_cheapest_mix_when_the_cheapest_fails_on_fresh_seeds(tmp_path):
    """The winner's curse: a problem whose fresh seeds run 0.05 lower than its search seeds. The cheapest
    feasible mixes, which meet the target by a hair on the search seeds, fail on the fresh ones; with
    verify_candidates the next cheapest are checked until one holds, and that one is chosen."""
    spec = load_design({"presets": ["synthetic"], "replications": 10, "seed": 3,
                        "levers": {"a": [0.0, 1.0], "b": [0.0, 1.0]},
                        "targets": [{"metric": "reuse_rate_mass_total", "at_least": 0.45, "probability": 0.9}],
                        "search": {"n": 24, "refine": "nelder-mead", "iterations": 40, "verify_replications": 10,
                                   "verify_candidates": 60}})
    base, _ = synthetic(spec)

    def evaluate(levers, stage, fresh):
        out = base(levers, stage, fresh)
        if fresh:
            for cand in out:
                cand.runs["synthetic"]["reuse_rate_mass_total"] -= 0.05
        return out

    result = design(spec, tmp_path / "curse", evaluator=evaluate, progress=False)
    rob = result.robustness
    holds = rob["holds:reuse_rate_mass_total >= 0.45 (p 0.9)"]
    assert rob["candidate"].tolist() == list(range(1, len(rob) + 1)) and len(rob) > 1
    assert not holds.iloc[:-1].any() and holds.iloc[-1]  # checked cheapest first until one held
    chosen = 100 * result.best["a"] + 50 * result.best["b"]
    assert chosen > rob["net_cost"].iloc[0]  # dearer than the cheapest, which failed
    assert rob["net_cost"].is_monotonic_increasing
    report = (tmp_path / "curse" / "report.md").read_text()
    assert f"the {['first', 'second', 'third'][len(rob) - 1] if len(rob) <= 3 else f'{len(rob)}th'} cheapest" in report
    # one candidate verified (the default): the cheapest is shown and the report says it does not hold
    one = load_design({**to_dict(spec), "search": {**to_dict(spec.search), "verify_candidates": 1}})
    single = design(one, tmp_path / "one", evaluator=evaluate, progress=False)
    assert len(single.robustness) == 1 and not single.robustness["holds:reuse_rate_mass_total >= 0.45 (p 0.9)"].any()
    assert "none of the 1 cheapest" in (tmp_path / "one" / "report.md").read_text()
