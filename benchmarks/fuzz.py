"""Hardening checks too long for the test suite: a fuzz of random valid scenarios and a
battery of bad inputs to the command line and the Python API (issue 19).

``fuzz``: ``--runs`` random valid scenarios (``ecopark/fuzz.py``: a preset shrunk to about 12
firms, a few keys and instruments drawn within their declared ranges, 6-60 months), each run
under the invariant monitor and the output checks of ``ecopark/fuzz.py`` (utilisation within
[0, 1], output prices above zero, memory per firm, CSV totals equal to the metrics); prints how
many completed, were refused with a ConfigError, broke an invariant or crashed, the messages of
the last two kinds, and the share metrics found outside [0, 1].

``bad-inputs``: each bad input is run as its own ``ecopark`` (or ``python -c``) process; it
is handled cleanly when the process exits with status 2, prints exactly one line on stderr
and no traceback, within 120 s. Prints the count handled cleanly and the ones that were not.

``over-allocation``: the crash region of issue 29 (output-based allocation above 1), counting
crashes, months with utilisation above 1 and output prices at or below zero.

Run: ``nice -n 19 .venv/bin/python benchmarks/fuzz.py fuzz --runs 500``,
``nice -n 19 .venv/bin/python benchmarks/fuzz.py bad-inputs`` and
``nice -n 19 .venv/bin/python benchmarks/fuzz.py over-allocation --runs 40``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MONEY_KEYS = ("operator.rent", "operator.operating_cost", "operator.initial_cash", "banks[0].capital",
              "policies.cap_and_trade.penalty", "policies.cap_and_trade.external_price",
              "policies.cap_and_trade.reserve_price", "policies.cap_and_trade.initial_price",
              "policies.offset_quota.penalty", "policies.capex_subsidy.cap_per_project",
              "policies.capex_subsidy.budget", "policies.reuse_subsidy.budget", "policies.platform.fee",
              "policies.carbon_tax.rate", "policies.landfill_tax.rate")
OTHER_KEYS = ("economy.dividend_cash_months", "economy.shock_start", "byproduct_market.min_quantity",
              "economy.cost_dispersion", "park.horizon", "credit.project_tenor_months", "policies.landfill_tax.start")


def draw_cases(runs: int, seed: int) -> list[dict]:
    """The fuzz's scenarios: preset, overrides, seed and months of each run."""
    from ecopark.fuzz import random_overrides
    from ecopark.scenario import presets

    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(runs):
        overrides = random_overrides(rng)
        cases.append({"preset": str(rng.choice(presets())), "overrides": overrides,
                      "seed": int(rng.integers(2**31)), "steps": int(rng.integers(6, 61))})
    return cases


def fuzz(cases: list[dict]) -> collections.Counter:
    """Run the cases; print each violation (a share metric outside [0, 1] among them) and crash,
    then the counts."""
    from ecopark.fuzz import fuzz_run

    runs = len(cases)
    counts: collections.Counter = collections.Counter()
    start = time.perf_counter()
    for i, case in enumerate(cases):
        preset, overrides, run_seed, steps = case["preset"], case["overrides"], case["seed"], case["steps"]
        outcome, message = fuzz_run(preset, overrides, run_seed, steps)
        counts[outcome] += 1
        if outcome in ("violated", "crashed"):
            print(f"run {i} {outcome}: {preset} seed={run_seed} steps={steps} {overrides}\n    {message[:400]}",
                  flush=True)
    print(f"{runs} runs in {time.perf_counter() - start:.0f} s: " + ", ".join(f"{counts[k]} {k}" for k in
                                                                          ("ok", "refused", "violated", "crashed")))
    return counts


def bad_inputs(tmp: Path) -> list[tuple[str, list[str]]]:
    """(label, argv after the program) for every bad input tried."""
    bad_utf8 = tmp / "latin1.toml"
    bad_utf8.write_bytes('[park]\nname = "caf\xe9"\n'.encode("latin-1"))
    bad_toml = tmp / "broken.toml"
    bad_toml.write_text("[park\nhorizon = ")
    empty = tmp / "empty.toml"
    empty.write_text("")
    a_file = tmp / "a_file"
    a_file.write_text("x")
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere on disk: a folder no one can create in
        locked = Path("/sys/ecopark-not-writable")
    unreadable = tmp / "unreadable.toml"
    unreadable.write_text("[park]\n")
    unreadable.chmod(0o000)
    spec = tmp / "spec.toml"
    spec.write_text('scenario = "generic"\nsteps = 2\n[grid]\n"policies.landfill_tax.rate" = [10.0, 20.0]\n')
    sens = tmp / "sens.toml"
    sens.write_text('scenario = "generic"\nsteps = 2\n[sample]\nn = 2\n[sample.ranges]\n'
                    '"policies.landfill_tax.rate" = [0.0, 50.0]\n')
    int_range = tmp / "int_range.toml"
    int_range.write_text('scenario = "generic"\nsteps = 2\n[sample]\nmethod = "sobol"\nn = 2\n[sample.ranges]\n'
                         '"credit.project_tenor_months" = [12.5, 120.0]\n')
    bad_spec_utf8 = tmp / "spec_latin1.toml"
    bad_spec_utf8.write_bytes('scenario = "caf\xe9"\n'.encode("latin-1"))
    bad_spec_toml = tmp / "spec_broken.toml"
    bad_spec_toml.write_text("scenario = ")
    sweep_file = tmp / "sweep_out_file"
    sweep_file.write_text("x")
    run = ["run", "--steps", "2"]
    cases: list[tuple[str, list[str]]] = [
        ("seed -1", [*run, "--seed", "-1"]),
        ("seed 1.5", [*run, "--seed", "1.5"]),
        ("seed word", [*run, "--seed", "abc"]),
        ("seed 2**64", [*run, "--seed", str(2**64)]),
        ("seed empty", [*run, "--seed", ""]),
        ("steps 0", ["run", "--steps", "0"]),
        ("steps -3", ["run", "--steps", "-3"]),
        ("steps 1.5", ["run", "--steps", "1.5"]),
        ("steps word", ["run", "--steps", "many"]),
        ("steps above limit", ["run", "--steps", "100000"]),
        ("steps 10**20", ["run", "--steps", str(10**20)]),
        ("scenario unknown", [*run, "--scenario", "atlantis"]),
        ("scenario folder", [*run, "--scenario", str(tmp)]),
        ("scenario not UTF-8", [*run, "--scenario", str(bad_utf8)]),
        ("scenario bad TOML", [*run, "--scenario", str(bad_toml)]),
        ("scenario empty", [*run, "--scenario", str(empty)]),
        ("scenario unreadable", [*run, "--scenario", str(unreadable)]),
        ("set without =", [*run, "--set", "operator.rent"]),
        ("set empty key", [*run, "--set", "=5"]),
        ("set unknown section", [*run, "--set", "nowhere.x=1"]),
        ("set unknown key", [*run, "--set", "operator.colour=1"]),
        ("set unknown policy", [*run, "--set", "policies.magic.rate=1"]),
        ("set bad index", [*run, "--set", "banks[x].capital=1"]),
        ("set missing index", [*run, "--set", "banks[7].capital=1"]),
        ("set index on table", [*run, "--set", "operator[0].rent=1"]),
        ("set into a number", [*run, "--set", "operator.rent.x=1"]),
        ("set string for number", [*run, "--set", "operator.rent=lots"]),
        ("set bool for number", [*run, "--set", "operator.rent=true"]),
        ("set list for number", [*run, "--set", "operator.rent=[1, 2]"]),
        ("set table for number", [*run, "--set", "operator.rent={a = 1}"]),
        ("set number for table", [*run, "--set", "operator=5"]),
        ("set fractional int", [*run, "--set", "park.horizon=12.5"]),
        ("set huge int", [*run, "--set", f"park.horizon={10**30}"]),
        ("set unknown sector", [*run, "--set", "park.firms.unobtainium=3"]),
        ("set no firms", [*run, "--set", "park.firms={}"]),
        ("set bad choice", [*run, "--set", "byproduct_market.sharing_rule=fair"]),
        ("set discount range reversed", [*run, "--set", "economy.discount_rate=[0.2, 0.1]"]),
        ("set discount list short", [*run, "--set", "economy.discount_rate=[0.2]"]),
        ("set end before start", [*run, "--set", "policies.landfill_tax.start=10",
                                  "--set", "policies.landfill_tax.end=5"]),
        ("set banks empty", [*run, "--set", "banks=[]"]),
        ("set posted_price without fund", [*run, "--set", "byproduct_market.sharing_rule=posted_price"]),
        ("set min_quantity 0", [*run, "--set", "byproduct_market.min_quantity=0"]),
        ("set loss default < npl", [*run, "--set", "credit.npl_after_months=9",
                                    "--set", "credit.default_after_months=3"]),
        ("out is a file", [*run, "--out", str(a_file)]),
        ("out under a file", [*run, "--out", str(a_file / "sub")]),
        ("out not writable", [*run, "--out", str(locked / "sub")]),
        ("out not writable itself", [*run, "--out", str(locked)]),
        ("sweep spec missing", ["sweep", str(tmp / "nope.toml"), "--out", str(tmp / "s1")]),
        ("sweep spec not UTF-8", ["sweep", str(bad_spec_utf8), "--out", str(tmp / "s2")]),
        ("sweep spec bad TOML", ["sweep", str(bad_spec_toml), "--out", str(tmp / "s3")]),
        ("sweep spec unreadable", ["sweep", str(unreadable), "--out", str(tmp / "s4")]),
        ("sweep workers 0", ["sweep", str(spec), "--out", str(tmp / "s5"), "--workers", "0", "--quiet"]),
        ("sweep workers -2", ["sweep", str(spec), "--out", str(tmp / "s6"), "--workers", "-2", "--quiet"]),
        ("sweep workers word", ["sweep", str(spec), "--out", str(tmp / "s7"), "--workers", "two"]),
        ("sweep scheduler malformed", ["sweep", str(spec), "--out", str(tmp / "s8"), "--scheduler", "nonsense"]),
        ("sweep scheduler no port", ["sweep", str(spec), "--out", str(tmp / "s9"), "--scheduler", "tcp://host"]),
        ("sweep scheduler bad port", ["sweep", str(spec), "--out", str(tmp / "s10"), "--scheduler",
                                      "tcp://127.0.0.1:99999"]),
        ("sweep out is a file", ["sweep", str(spec), "--out", str(sweep_file), "--quiet"]),
        ("sweep out not writable", ["sweep", str(spec), "--out", str(locked / "s"), "--quiet"]),
        ("sweep bad format", ["sweep", str(spec), "--out", str(tmp / "s11"), "--format", "xls"]),
        ("sweep bad backend", ["sweep", str(spec), "--out", str(tmp / "s12"), "--backend", "mpi"]),
        ("sweep no out", ["sweep", str(spec)]),
        ("sensitivity n 0", ["sensitivity", str(sens), "--outcome", "fiscal_cost", "--out", str(tmp / "t1"),
                             "--n", "0", "--quiet"]),
        ("sensitivity n -4", ["sensitivity", str(sens), "--outcome", "fiscal_cost", "--out", str(tmp / "t2"),
                              "--n", "-4", "--quiet"]),
        ("sensitivity unknown outcome", ["sensitivity", str(sens), "--outcome", "happiness", "--out",
                                         str(tmp / "t3"), "--quiet"]),
        ("sensitivity workers 0", ["sensitivity", str(sens), "--outcome", "fiscal_cost", "--out", str(tmp / "t4"),
                                   "--workers", "0", "--quiet"]),
        ("sensitivity no ranges", ["sensitivity", str(spec), "--outcome", "fiscal_cost", "--out", str(tmp / "t5"),
                                   "--quiet"]),
        ("sensitivity bad method", ["sensitivity", str(sens), "--outcome", "fiscal_cost", "--out", str(tmp / "t6"),
                                    "--method", "fast"]),
        ("sample range fractional int", ["sweep", str(int_range), "--out", str(tmp / "s13"), "--quiet"]),
        ("plot missing folder", ["plot", str(tmp / "nothing")]),
        ("plot a file", ["plot", str(a_file)]),
        ("plot bad format", ["plot", str(tmp), "--format", "bmp"]),
        ("viz bad port", ["viz", "--port", "http"]),
        ("viz port out of range", ["viz", "--port", "70000"]),
        ("viz port negative", ["viz", "--port", "-1"]),
        ("unknown command", ["fly"]),
        ("no command", []),
        ("unknown option", ["run", "--speed", "3"]),
    ]
    for key in MONEY_KEYS:
        for value in ("inf", "-inf", "nan", "1e20", "1e308", "-1"):
            cases.append((f"{key}={value}", [*run, "--set", f"{key}={value}"]))
    for key in OTHER_KEYS:
        for value in ("inf", "nan", "1e300"):
            cases.append((f"{key}={value}", [*run, "--set", f"{key}={value}"]))
    cases += issue29_inputs(tmp, a_file)
    api = "import ecopark; ecopark.run('generic', steps=1, seed={})"
    for label, seed in (("api seed -1", "-1"), ("api seed 1.5", "1.5"), ("api seed text", "'x'"),
                        ("api seed 2**64", "2**64")):
        cases.append((label, ["-c", f"import sys\nfrom ecopark.schema import ConfigError\ntry:\n {api.format(seed)}\n"
                                    "except ConfigError as e:\n print(e, file=sys.stderr); sys.exit(2)"]))
    return cases


#: A tiny calibration spec: a run that is wrongly accepted ends in seconds, not at the timeout.
TINY_CALIBRATION = """scenario = "generic"
steps = 2
replications = 1
seed = 5
[fixed]
"park.firms" = {grain_oil = 2, food_feed = 3, livestock = 2}
"park.vacant_plots" = 1
[free]
"byproduct_market.encounters_per_month" = [0.05, 2.0]
[search]
n = 5
population = 5
iterations = 1
[[targets]]
metric = "links_formed_total"
observed = 6.0
se = 1.0
"""
#: A socket held open while the bad inputs run, so that ``viz`` meets a busy port.
_BUSY: list = []


def _api_case(code: str) -> list[str]:
    """A ``python -c`` case: exit 2 with the ConfigError's one line, any other exception a traceback."""
    return ["-c", "import sys\nfrom ecopark.schema import ConfigError\ntry:\n"
                  + "".join(f" {line}\n" for line in code.splitlines())
                  + "except ConfigError as e:\n print(e, file=sys.stderr); sys.exit(2)"]


def issue29_inputs(tmp: Path, a_file: Path) -> list[tuple[str, list[str]]]:
    """The bad inputs of issue 29: --out names, calibrate options, plot on crafted folders, viz on a busy
    port, RunResult.load on damaged folders, API arguments of the wrong type."""
    import shutil
    import socket

    import pandas as pd

    import ecopark
    from ecopark.experiments.batch import sweep

    cal = tmp / "tiny_calibration.toml"
    cal.write_text(TINY_CALIBRATION)
    good_sweep = tmp / "good_sweep"
    sweep({"scenario": "generic", "steps": 1, "replications": 2, "seed": 1, "format": "csv",
           "outcomes": ["links_formed_total", "fiscal_cost"], "grid": {"policies.landfill_tax.rate": [10.0, 40.0]}},
          good_sweep, progress=False)

    def crafted(name: str, damage) -> str:
        folder = tmp / f"crafted_{name}"
        shutil.copytree(good_sweep, folder)
        damage(folder)
        return str(folder)

    run_folder = tmp / "good_run"
    ecopark.run("generic", steps=2, seed=1).save(run_folder)

    def damaged(name: str, file: str, damage) -> str:
        folder = tmp / f"damaged_{name}"
        shutil.copytree(run_folder, folder)
        path = folder / file
        if callable(damage):
            damage(path)
        else:
            path.write_text(damage)
        return str(folder)

    def truncate(path: Path) -> None:
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))

    def ragged(path: Path) -> None:
        lines = path.read_text().splitlines()
        lines[1] = lines[1].rsplit(",", 1)[0]
        path.write_text("\n".join(lines) + "\n")

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    _BUSY.append(busy)
    cases = [
        ("run out 300 characters", ["run", "--steps", "1", "--out", str(tmp / ("x" * 300))]),
        ("run out empty", ["run", "--steps", "1", "--out", ""]),
        ("calibrate out is a file", ["calibrate", str(cal), "--out", str(a_file), "--quiet"]),
        ("calibrate out in /proc", ["calibrate", str(cal), "--out", "/proc/ecopark-calibration", "--quiet"]),
        ("calibrate scheduler bogus", ["calibrate", str(cal), "--out", str(tmp / "c1"), "--scheduler", "bogus"]),
        ("calibrate workers 0", ["calibrate", str(cal), "--out", str(tmp / "c2"), "--workers", "0", "--quiet"]),
        ("calibrate workers -1", ["calibrate", str(cal), "--out", str(tmp / "c3"), "--workers", "-1", "--quiet"]),
        ("plot manifest not JSON", ["plot", crafted("nojson", lambda f: (f / "manifest.json").write_text("{no"))]),
        ("plot manifest empty", ["plot", crafted("empty", lambda f: (f / "manifest.json").write_text(""))]),
        ("plot manifest a list", ["plot", crafted("list", lambda f: (f / "manifest.json").write_text("[1]"))]),
        ("plot manifest no spec", ["plot", crafted("nospec", lambda f: (f / "manifest.json").write_text(
            '{"format": "csv"}'))]),
        ("plot runs missing", ["plot", crafted("noruns", lambda f: (f / "runs.csv").unlink())]),
        ("plot runs garbage", ["plot", crafted("garbage", lambda f: (f / "runs.csv").write_bytes(b"\x00\xff\x01"))]),
        ("plot runs no status", ["plot", crafted("nostatus", lambda f: pd.read_csv(f / "runs.csv").drop(
            columns="status").to_csv(f / "runs.csv", index=False))]),
        ("plot cost not yuan", ["plot", str(good_sweep), "--cost", "links_formed_total"]),
        ("viz busy port", ["viz", "--port", str(busy.getsockname()[1])]),
    ]
    load = "import ecopark\necopark.RunResult.load({!r})"
    for label, file, damage in (("metrics not JSON", "metrics.json", "{no"),
                                ("config a list", "config.json", "[1]"),
                                ("timeseries garbage", "timeseries.csv", "step,a\n1,2,3,4\n"),
                                ("metrics a word", "metrics.json", '{"firms_final": "many"}'),
                                ("timeseries truncated", "timeseries.csv", truncate),
                                ("links ragged", "links.csv", ragged),
                                ("ledger empty", "ledger.csv", "")):
        cases.append((f"api load {label}", _api_case(load.format(damaged(label.replace(" ", "_"), file, damage)))))
    cases += [("api run scenario 123", _api_case("import ecopark\necopark.run(scenario=123, steps=1)")),
              ("api run overrides [5]", _api_case("import ecopark\necopark.run(steps=1, overrides=[5])"))]
    return cases


def check_inputs(timeout: float, only_issue29: bool = False) -> tuple[int, int]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ecopark = [sys.executable, "-m", "ecopark"]
    clean = 0
    with tempfile.TemporaryDirectory() as folder:
        if only_issue29:
            (Path(folder) / "a_file").write_text("x")
            cases = issue29_inputs(Path(folder), Path(folder) / "a_file")
        else:
            cases = bad_inputs(Path(folder))
        for label, argv in cases:
            cmd = [sys.executable, *argv] if argv[:1] == ["-c"] else [*ecopark, *argv]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                                      stdin=subprocess.DEVNULL)
                lines = [x for x in proc.stderr.splitlines() if x.strip()]
                ok = proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr
                why = f"exit {proc.returncode}, {len(lines)} stderr lines: {' | '.join(lines[-2:])[:200]}"
            except subprocess.TimeoutExpired:
                ok, why = False, f"still running after {timeout:.0f} s"
            clean += ok
            if not ok:
                print(f"NOT CLEAN  {label}: {why}", flush=True)
        if (Path(folder) / "locked").exists():
            (Path(folder) / "locked").chmod(0o700)  # so that the temporary folder can be removed
    print(f"{clean} of {len(cases)} bad inputs exited 2 with one line")
    return clean, len(cases)


def over_allocation(runs: int, seed: int, steps: int = 12) -> None:
    """Issue 29's crash region: output-based allocation with cap_start 1-2 and initial_price 10-1000
    yuan/tCO2e (log-uniform), free_share 0.8-1, on the generic park shrunk to 12 firms. Prints the
    runs that crashed, the months with utilisation above 1 or an output price at or below zero, and
    the highest utilisation. Uses only the model's own API, so it runs on older versions too."""
    from ecopark.agents.pricing import output_prices
    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario, scale_park

    rng = np.random.default_rng(seed)
    crashed = util_months = price_months = 0
    top = 0.0
    for _ in range(runs):
        overrides = {"policies.cap_and_trade.allocation": "output_based",
                     "policies.cap_and_trade.cap_start": float(rng.uniform(1.0, 2.0)),
                     "policies.cap_and_trade.initial_price": float(np.exp(rng.uniform(np.log(10), np.log(1000)))),
                     "policies.cap_and_trade.free_share": float(rng.uniform(0.8, 1.0))}
        try:
            model = ParkModel(load_scenario(scale_park(load_scenario("generic"), 12), overrides),
                              seed=int(rng.integers(2**31)))
            for _ in range(steps):
                model.step()
                rows = model.firms.live
                util = model.firms.utilisation[rows]
                top = max(top, float(util.max(initial=0.0)))
                util_months += bool((util > 1 + 1e-12).any())
                price_months += bool((output_prices(model, rows)[0] <= 0).any())
        except Exception:  # counted: the point of the measurement
            crashed += 1
    print(f"{runs} over-allocation runs of {steps} months: {crashed} crashed, {util_months} months with "
          f"utilisation above 1 (highest {top:.3f}), {price_months} months with an output price <= 0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("fuzz")
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the drawn scenarios to this JSON file")
    p.add_argument("--replay", default=None, help="run the scenarios of this JSON file instead of drawing")
    p = sub.add_parser("over-allocation")
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("bad-inputs")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--issue29", action="store_true", help="only the bad inputs added by issue 29")
    args = parser.parse_args(argv)
    if args.what == "fuzz":
        cases = json.loads(Path(args.replay).read_text()) if args.replay else draw_cases(args.runs, args.seed)
        if args.save:
            Path(args.save).write_text(json.dumps(cases))
        fuzz(cases)
    elif args.what == "over-allocation":
        over_allocation(args.runs, args.seed)
    else:
        check_inputs(args.timeout, args.issue29)


if __name__ == "__main__":
    main()
