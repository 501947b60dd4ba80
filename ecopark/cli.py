"""Command line: ``ecopark run`` (and later ``sweep``, ``sensitivity``, ``plot``, ``viz``).

Configuration errors print one line naming the key and what is allowed, and exit with
status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ecopark import __version__
from ecopark.schema import ConfigError


def _cmd_run(args: argparse.Namespace) -> int:
    from ecopark.experiments.runner import run
    from ecopark.viz.report import summary_text, write_report

    result = run(args.scenario, steps=args.steps, seed=args.seed, overrides=args.set)
    print(summary_text(result))
    if args.out:
        out = Path(args.out)
        paths = result.save(out)
        paths.append(write_report(result, out / "report.png"))
        print(f"\nwrote {', '.join(p.name for p in paths)} to {out}/")
    return 0


def _spec_path(name: str) -> str:
    """A sweep spec file, or the name of one shipped in ecopark/sweeps."""
    from importlib import resources

    shipped = resources.files("ecopark.sweeps").joinpath(f"{name}.toml")
    return str(shipped) if not Path(name).exists() and shipped.is_file() else name


def _cmd_sweep(args: argparse.Namespace) -> int:
    from ecopark.experiments.batch import sweep
    from ecopark.experiments.spec import load_spec

    spec = load_spec(_spec_path(args.spec))
    if args.format:
        spec = type(spec)(**{**spec.__dict__, "format": args.format})
    table = sweep(spec, args.out, workers=args.workers, backend=args.backend, scheduler=args.scheduler,
                  progress=not args.quiet)
    failed = int((table["status"] != "ok").sum())
    print(f"{len(table)} runs in {args.out}/ ({failed} failed); load them with "
          f"ecopark.experiments.load_results({str(args.out)!r})")
    return 0


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from ecopark.experiments.sensitivity import sensitivity

    table = sensitivity(_spec_path(args.spec), args.outcome, args.out, method=args.method, n=args.n,
                        workers=args.workers, progress=not args.quiet)
    print(table.to_string(index=False))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from ecopark.experiments.plots import plot_results

    paths = plot_results(args.folder, args.outcome or None, fmt=args.format)
    print(f"wrote {len(paths)} figures to {args.folder}/")
    return 0


def _cmd_viz(args: argparse.Namespace) -> int:
    import ipaddress
    import subprocess

    app = Path(__file__).parent / "viz" / "app.py"
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"ecopark: warning: serving on {args.host} makes the app reachable from other machines; "
              "it has no login and runs code on this machine when used", file=sys.stderr)
    solara = Path(sys.executable).with_name("solara")
    cmd = [str(solara), "run", str(app), "--host", args.host, "--port", str(args.port), "--production"]
    return subprocess.call(cmd)


# -- ecopark calibrate (issue 18) ------------------------------------------------------------------
def _calibration_path(name: str) -> str:
    """A calibration spec file, or the name of one shipped in ecopark/calibrations (a preset's)."""
    from importlib import resources

    shipped = resources.files("ecopark.calibrations").joinpath(f"{name}.toml")
    return str(shipped) if not Path(name).is_file() and shipped.is_file() else name


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from ecopark.experiments.calibration import calibrate

    result = calibrate(_calibration_path(args.spec), args.out, workers=args.workers, backend=args.backend,
                       scheduler=args.scheduler, progress=not args.quiet)
    print(result.targets[["role", "target", "observed", "before", "after", "within"]].to_string(index=False))
    print()
    print(result.parameters[["parameter", "base", "calibrated", "interval_low", "interval_high",
                             "identified"]].to_string(index=False))
    print(f"\ndistance {result.distance:.4g} (accepted at <= {result.threshold:.4g}); wrote calibrated.toml, "
          f"report.md and figures to {args.out}/")
    return 0


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit a park's free parameters to observed figures (resumable)")
    p.add_argument("spec", help="calibration spec TOML, or a shipped one: generic, yueyang, qinzhou, liaocheng")
    p.add_argument("--out", required=True, help="results folder (running again resumes)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--backend", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a Dask scheduler (implies --backend dask)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_calibrate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecopark", description="Agent-based eco-industrial park economies.")
    parser.add_argument("--version", action="version", version=f"ecopark {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run one scenario and report on it")
    p.add_argument("--scenario", default="generic", help="preset name or TOML file (default: generic)")
    p.add_argument("--steps", type=int, default=None, help="months to simulate (default: the scenario's horizon)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. policies.landfill_tax.rate=80 (repeatable)")
    p.add_argument("--out", default=None, help="folder for CSV/JSON outputs and report.png")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("sweep", help="run a parameter sweep (resumable)")
    p.add_argument("spec", help="sweep spec TOML, or the name of a shipped one (example)")
    p.add_argument("--out", required=True, help="results folder (running again resumes)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--backend", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a Dask scheduler (implies --backend dask)")
    p.add_argument("--format", choices=("parquet", "csv"), default=None, help="override the spec's table format")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("sensitivity", help="Sobol or Morris indices of one outcome (SALib)")
    p.add_argument("spec", help="sweep spec TOML with [sample.ranges]")
    p.add_argument("--outcome", required=True, help="run metric to analyse")
    p.add_argument("--method", choices=("sobol", "morris"), default="sobol")
    p.add_argument("--n", type=int, default=64, help="base sample size N")
    p.add_argument("--out", required=True, help="results folder")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_sensitivity)

    p = sub.add_parser("plot", help="plot a sweep's outcomes vs its parameters")
    p.add_argument("folder", help="sweep results folder")
    p.add_argument("--outcome", action="append", default=[], help="outcome to plot (repeatable; default all)")
    p.add_argument("--format", choices=("png", "svg"), default="png")
    p.set_defaults(func=_cmd_plot)


    p = sub.add_parser("viz", help="serve the browser view (Solara) of the park")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.set_defaults(func=_cmd_viz)
    _add_calibrate(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"ecopark: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
