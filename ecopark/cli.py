"""Command line: ``ecopark run`` (and later ``sweep``, ``sensitivity``, ``plot``, ``viz``).

Configuration errors print one line naming the key and what is allowed, and exit with
status 2; no traceback. So do bad command-line values (a negative seed, ``--steps`` beyond
the horizon limit, ``--workers`` below 1, a malformed ``--scheduler``, an ``--out`` that is a
file or cannot be written: checked before anything runs). ``run`` saves its files before it
prints, so ``ecopark run --out DIR | head`` keeps them; a closed stdout is not an error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from ecopark import __version__
from ecopark.schema import ConfigError, RunsFailed


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2), like configuration errors."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help that shows every option's default and keeps the examples' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, [], False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def _whole(lo: int, hi: int | None = None):
    """An argparse type: a whole number from ``lo`` to ``hi``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lo or (hi is not None and value > hi):
            allowed = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"{value} is out of range; allowed: a whole number {allowed}")
        return value
    return parse


def _scheduler(text: str) -> str:
    """An argparse type: the address of a Dask scheduler, tcp://HOST:PORT (or tls://)."""
    match = re.fullmatch(r"(tcp|tls)://([^:/\s]+):(\d+)", text)
    if not match or not 1 <= int(match[3]) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not tcp://HOST:PORT with a port from 1 to 65535")
    return text


def writable_folder(path: str | Path, key: str = "out") -> Path:
    """``path`` as a folder that exists and can be written (created if missing); ConfigError otherwise.

    Called before anything runs, so that a bad ``--out`` costs no simulation time."""
    if not str(path).strip():
        raise ConfigError(key, "the folder name is empty; give a folder (e.g. results/run1)")
    out = Path(path)
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(key, f"{out} is a file; give a folder")
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".ecopark-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:  # a name too long, a file on the way, no permission, a read-only or virtual file system
        shown = str(out) if len(str(out)) <= 80 else f"{str(out)[:60]}... ({len(str(out))} characters)"
        raise ConfigError(key, f"cannot write into folder {shown}: {exc.strerror or exc}") from None
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from ecopark.experiments.runner import run
    from ecopark.viz.report import summary_text, write_report

    out = writable_folder(args.out) if args.out is not None else None
    result = run(args.scenario, steps=args.steps, seed=args.seed, overrides=args.set)
    paths = []
    if out is not None:  # files first: a closed stdout (`| head`) must not lose them
        paths = result.save(out)
        paths.append(write_report(result, out / "report.png"))
    print(summary_text(result, full=args.all))
    if paths:
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
    writable_folder(args.out)
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

    writable_folder(args.out)
    table = sensitivity(_spec_path(args.spec), args.outcome, args.out, method=args.method, n=args.n,
                        workers=args.workers, progress=not args.quiet)
    print(table.to_string(index=False))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from ecopark.experiments.plots import plot_results

    paths = plot_results(args.folder, args.outcome or None, fmt=args.format, cost=args.cost)
    print(f"wrote {len(paths) - 1} figures to {args.folder}/, listed in {paths[-1].name}")
    return 0


def _check_port_free(host: str, port: int) -> None:
    """ConfigError ("port") when ``host:port`` cannot be listened on (in use, or an unknown host), so that
    ``ecopark viz`` stops with one line instead of the server's warnings and exit status 3."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError("host", f"{host!r} is not an address of this machine: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError("port", f"cannot listen on {host}:{port}: {exc.strerror or exc} (another ecopark viz? "
                                      "choose another with --port)") from None


def _cmd_viz(args: argparse.Namespace) -> int:
    """Replace this process by the solara server (exec), so that a signal stopping
    ``ecopark viz`` (Ctrl-C, SIGTERM) reaches the server itself and frees the port."""
    import ipaddress

    app = Path(__file__).parent / "viz" / "app.py"
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"ecopark: warning: serving on {args.host} makes the app reachable from other machines; "
              "it has no login and runs code on this machine when used", file=sys.stderr)
    _check_port_free(args.host, args.port)
    solara = Path(sys.executable).with_name("solara")
    if not solara.is_file():
        raise ConfigError("viz", f"the solara command is not installed next to {sys.executable}")
    cmd = [str(solara), "run", str(app), "--host", args.host, "--port", str(args.port), "--production",
           "--no-check-version"]  # no "pip install a newer solara" advice: the pins keep the page offline
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
    return 0  # not reached: execv returns only by raising


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


# -- ecopark calibrate (issue 18) ------------------------------------------------------------------
def _calibration_path(name: str) -> str:
    """A calibration spec file, or the name of one shipped in ecopark/calibrations (a preset's)."""
    from importlib import resources

    shipped = resources.files("ecopark.calibrations").joinpath(f"{name}.toml")
    return str(shipped) if not Path(name).is_file() and shipped.is_file() else name


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import dataclasses

    from ecopark.experiments.calibration import calibrate
    from ecopark.experiments.calibration_spec import load_calibration

    spec = load_calibration(_calibration_path(args.spec))
    if args.seed is not None:
        spec = dataclasses.replace(spec, seed=args.seed)
    writable_folder(args.out)
    if args.coverage:
        from ecopark.experiments.coverage import coverage_test, markdown_table

        _, summary = coverage_test(spec, args.coverage, args.out, workers=args.workers, progress=not args.quiet)
        table = "\n".join(markdown_table(summary))
        (Path(args.out) / "coverage.md").write_text(f"# Coverage of `{args.spec}`'s intervals\n\n{table}\n")
        print(table)
        print(f"\nwrote coverage.csv, coverage-summary.csv, coverage.md and one calibration per truth to {args.out}/")
        return 0
    result = calibrate(spec, args.out, workers=args.workers, backend=args.backend,
                       scheduler=args.scheduler, progress=not args.quiet)
    print(result.targets[["role", "target", "observed", "before", "after", "within"]].to_string(index=False))
    print()
    print(result.parameters[["parameter", "base", "calibrated", "interval_low", "interval_high",
                             "identified"]].to_string(index=False))
    print(f"\ndistance {result.distance:.4g} (accepted at <= {result.threshold:.4g}); wrote calibrated.toml, "
          f"report.md and figures to {args.out}/")
    return 0


def _add_execution(p: argparse.ArgumentParser, dask: bool = True) -> None:
    """The options every resumable batch command shares: --out, --workers and (with ``dask``) --backend
    and --scheduler."""
    p.add_argument("--out", required=True, metavar="DIR", help="results folder (running again resumes)")
    p.add_argument("--workers", type=_whole(1, 1024), default=1, help="parallel worker processes, 1-1024")
    if dask:
        p.add_argument("--backend", choices=("local", "dask"), default="local",
                       help="local processes or a Dask cluster")
        p.add_argument("--scheduler", type=_scheduler, default=None, metavar="tcp://HOST:PORT",
                       help="address of a running Dask scheduler (implies --backend dask; default: a local cluster)")


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit a park's free parameters to observed figures (resumable)",
                       formatter_class=_Formatter,
                       description="Fit the free parameters of a calibration spec to its observed targets\n"
                                   "(method of simulated moments; docs/calibration.md). Writes calibrated.toml,\n"
                                   "report.md and figures into --out; running the same command again resumes.",
                       epilog=_examples("ecopark calibrate yueyang --out results/cal-yueyang",
                                        "ecopark calibrate my_park_cal.toml --workers 2 --seed 7 --out results/cal",
                                        "ecopark calibrate my_park_cal.toml --coverage 20 --out results/cal-coverage",
                                        "ecopark run --scenario results/cal-yueyang/calibrated.toml --steps 60"))
    p.add_argument("spec", help="calibration spec TOML, or a shipped one: generic, yueyang, qinzhou, liaocheng")
    _add_execution(p)
    p.add_argument("--seed", type=_whole(0, 2**63 - 1), default=None,
                   help="master seed of the runs, the sample and the optimiser (default: the spec's seed, "
                        "0 if it sets none)")
    p.add_argument("--coverage", type=_whole(1, 10_000), default=None, metavar="K",
                   help="instead of calibrating to the spec's targets, test its intervals: calibrate to synthetic "
                        "targets at K truths drawn from the free ranges and report how often the intervals "
                        "contain the truth (docs/calibration.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_calibrate)


# -- ecopark compare and ecopark design (issue 25) --------------------------------------------------
def _shipped(package: str, name: str) -> str:
    """A spec file, or the name of one shipped in ``package`` (ecopark/comparisons, ecopark/designs)."""
    from importlib import resources

    shipped = resources.files(package).joinpath(f"{name}.toml")
    return str(shipped) if not Path(name).is_file() and shipped.is_file() else name


def _cmd_compare(args: argparse.Namespace) -> int:
    from ecopark.experiments.compare import compare, ranking_markdown

    writable_folder(args.out)
    result = compare(_shipped("ecopark.comparisons", args.spec), args.out, workers=args.workers,
                     backend=args.backend, scheduler=args.scheduler, progress=not args.quiet)
    outcome = result.ranking.attrs["outcome"]
    for preset in result.ranking["preset"].unique():
        print(f"{preset}:\n{ranking_markdown(result.ranking[result.ranking['preset'] == preset], outcome)}\n")
    print(f"wrote ranking.csv, effects.csv, who_gains.csv, report.md and {len(result.figures)} figures to {args.out}/")
    return 0


def _cmd_design(args: argparse.Namespace) -> int:
    from ecopark.experiments.design import design

    writable_folder(args.out)
    result = design(_shipped("ecopark.designs", args.spec), args.out, workers=args.workers, backend=args.backend,
                    scheduler=args.scheduler, progress=not args.quiet)
    if result.best is None:
        print("no candidate met the targets within the levers' ranges (see evaluations.csv)")
    else:
        print("cheapest mix found: " + ", ".join(f"{k} = {v}" for k, v in result.best.items()))
        print(result.robustness.to_string(index=False))
    print(f"{result.runs} runs; wrote report.md, evaluations.csv, pareto.csv, marginal.csv, robustness.csv "
          f"and pareto.png to {args.out}/")
    return 0


def _add_compare_design(sub: argparse._SubParsersAction) -> None:
    for name, what, shipped, func in (
            ("compare", "compare instruments side by side: gain, net public cost, ranking, who gains",
             "instruments", _cmd_compare),
            ("design", "find the cheapest mix of levers that meets targets with a confidence",
             "reuse_target", _cmd_design)):
        p = sub.add_parser(name, help=what + " (resumable)", formatter_class=_Formatter,
                           description=what[0].upper() + what[1:] + ". Running the same command again resumes.",
                           epilog=_examples(f"ecopark {name} {shipped} --workers 2 --out results/{name}",
                                            f"ecopark {name} my_{name}.toml --scheduler tcp://10.0.0.5:8786 "
                                            f"--out results/{name}-dask"))
        p.add_argument("spec", help=f"{name} spec TOML, or the name of a shipped one ({shipped})")
        _add_execution(p)
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    from ecopark.scenario import cases, presets

    parser = _Parser(prog="ecopark", description="Agent-based eco-industrial park economies.",
                     formatter_class=_Formatter,
                     epilog=_examples("ecopark run --scenario qinzhou --steps 60 --out results/qinzhou",
                                      "ecopark sweep example --workers 2 --out results/example",
                                      "ecopark plot results/example", "ecopark viz",
                                      "ecopark COMMAND --help    (options, defaults and examples of one command)"))
    parser.add_argument("--version", action="version", version=f"ecopark {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    seed = _whole(0, 2**63 - 1)

    p = sub.add_parser("run", help="run one scenario and report on it", formatter_class=_Formatter,
                       description="Run one scenario: print its outcomes and largest money flows and, with "
                                   f"--out, save its tables and report.png.\npresets: {', '.join(presets())}\n"
                                   f"cases (docs/cases.md): {', '.join(cases())}",
                       epilog=_examples("ecopark run", "ecopark run --scenario yueyang --steps 60 --seed 3 --all",
                                        "ecopark run --set policies.landfill_tax.rate=80 --set operator.rent=60000 "
                                        "--out results/landfill80",
                                        "ecopark run --scenario my_park.toml --out results/mine | head -20"))
    p.add_argument("--scenario", default="generic",
                   help=f"preset name ({', '.join(presets())}), case name ({', '.join(cases())}) "
                        "or a scenario TOML file")
    p.add_argument("--steps", type=_whole(1, 2400), default=None,
                   help="months to simulate, 1-2400 (default: the scenario's park.horizon)")
    p.add_argument("--seed", type=seed, default=0, help="random seed, a whole number >= 0")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value by its dotted path, e.g. policies.landfill_tax.rate=80 "
                        "(repeatable; keys in docs/scenario.md)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the CSV/JSON outputs and report.png (default: print only)")
    p.add_argument("--all", action="store_true",
                   help="print every outcome (about 85, docs/metrics.md), not the one-screen summary")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("sweep", help="run a parameter sweep (resumable)", formatter_class=_Formatter,
                       description="Run every point of a sweep spec, each replication with its own derived "
                                   "seed. Running the same command again resumes: finished runs are kept.",
                       epilog=_examples("ecopark sweep example --out results/example",
                                        "ecopark sweep my_sweep.toml --workers 2 --format csv --out results/mine",
                                        "ecopark sweep example --scheduler tcp://10.0.0.5:8786 --out results/dask"))
    p.add_argument("spec", help="sweep spec TOML, or the name of a shipped one (example)")
    _add_execution(p)
    p.add_argument("--format", choices=("parquet", "csv"), default=None,
                   help="table format of the results (default: the spec's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("sensitivity", help="Sobol or Morris indices of one outcome (SALib)",
                       formatter_class=_Formatter,
                       description="Global sensitivity of one run metric to the parameters of the spec's "
                                   "[sample.ranges]; writes indices.csv and the runs into --out.",
                       epilog=_examples("ecopark sensitivity my_sweep.toml --outcome fiscal_cost --out results/sa",
                                        "ecopark sensitivity my_sweep.toml --outcome adoption_rate_final "
                                        "--method morris --n 20 --workers 2 --out results/morris"))
    p.add_argument("spec", help="sweep spec TOML with [sample.ranges]")
    p.add_argument("--outcome", required=True, help="run metric to analyse (docs/metrics.md)")
    p.add_argument("--method", choices=("sobol", "morris"), default="sobol", help="Sobol indices or Morris screening")
    p.add_argument("--n", type=_whole(1, 1_000_000), default=64,
                   help="base sample size N (Sobol: N (D + 2) points; Morris: N (D + 1))")
    _add_execution(p, dask=False)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sensitivity)

    p = sub.add_parser("plot", help="plot a sweep's outcomes vs its parameters", formatter_class=_Formatter,
                       description="Draw each outcome of a sweep folder against its parameters into that folder.",
                       epilog=_examples("ecopark plot results/example",
                                        "ecopark plot results/example --outcome fiscal_cost --format svg"))
    p.add_argument("folder", help="sweep results folder")
    p.add_argument("--outcome", action="append", default=[],
                   help="outcome to plot (repeatable; default: every outcome of the sweep)")
    p.add_argument("--format", choices=("png", "svg"), default="png", help="image format")
    p.add_argument("--cost", default=None, metavar="METRIC",
                   help="run metric in yuan for the cost-effectiveness figure (default fiscal_cost if recorded)")
    p.set_defaults(func=_cmd_plot)


    p = sub.add_parser("viz", help="serve the browser view (Solara) of the park", formatter_class=_Formatter,
                       epilog=_examples("ecopark viz", "ecopark viz --port 9000"))
    p.add_argument("--port", type=_whole(1, 65535), default=8765, help="port (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.set_defaults(func=_cmd_viz)
    _add_calibrate(sub)
    _add_compare_design(sub)
    return parser


def _warn_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"ecopark: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (one line, status 2)
        return int(exc.code or 0)
    warnings.showwarning = _warn_one_line
    try:
        status = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that has gone away is met here, not at exit
        return status
    except ConfigError as exc:
        print(f"ecopark: error: {exc}", file=sys.stderr)
        return 2
    except RunsFailed as exc:  # the runs that finished are saved; the message says where
        print(f"ecopark: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like: the files are already saved
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the final flush at exit does not fail again
        return 0
    except KeyboardInterrupt:
        print("ecopark: interrupted", file=sys.stderr)
        return 130
