"""The metrics package: each metric defined once in its area module, reachable by name from the
package, the registries in area order, and importing it leaves Mesa out (a sweep's parent process)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ecopark import metrics
from ecopark.metrics import registry

PACKAGE = Path(metrics.__file__).parent


def test_every_area_module_is_in_the_recording_order_and_registers_metrics():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "registry"}
    assert set(registry.AREAS) == modules
    defined = {m.module.removesuffix(".py") for m in (*metrics.STEP_METRICS.values(), *metrics.RUN_METRICS.values())}
    assert defined == modules


@pytest.mark.parametrize("registry_", [metrics.STEP_METRICS, metrics.RUN_METRICS], ids=["step", "run"])
def test_the_registries_list_metrics_area_by_area_in_each_modules_order(registry_):
    areas = [registry.AREAS.index(m.module.removesuffix(".py")) for m in registry_.values()]
    assert areas == sorted(areas)
    for area in registry.AREAS:  # within an area: the order the module defines them in
        tree = ast.parse((PACKAGE / f"{area}.py").read_text())
        order = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in registry_]
        assert order == [m.name for m in registry_.values() if m.module == f"{area}.py"]


def test_each_metric_is_defined_once_and_is_an_attribute_of_the_package():
    names = []
    for area in registry.AREAS:
        tree = ast.parse((PACKAGE / f"{area}.py").read_text())
        names += [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    metric_names = [*metrics.STEP_METRICS, *metrics.RUN_METRICS]
    assert all(names.count(name) == 1 for name in metric_names)
    for name in metric_names:
        func = getattr(metrics, name)
        assert func is (metrics.STEP_METRICS.get(name) or metrics.RUN_METRICS[name]).func
        assert func.__module__ == f"ecopark.metrics.{func.__module__.rsplit('.', 1)[-1]}"
    from ecopark.metrics import carbon_price, operating_accounts, total_sales  # noqa: F401


def test_the_reference_names_each_metrics_module():
    text = metrics.markdown()
    assert "| `match_efficiency` | share |" in text and text.count("| `exchange.py` |") >= 20


def test_importing_the_metrics_and_the_sweep_driver_leaves_mesa_out():
    code = "import sys, ecopark.metrics, ecopark.experiments.batch; print('mesa' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
