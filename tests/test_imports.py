"""Every module of ecopark imports on its own, first, in a fresh interpreter (no import cycle
that only the model's import order hides)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT_EACH_FIRST = """
import importlib, pkgutil, sys
import ecopark
names = sorted(m.name for m in pkgutil.walk_packages(ecopark.__path__, "ecopark.")
               if not m.name.endswith("__main__"))
failed = []
for name in names:
    for key in [k for k in sys.modules if k == "ecopark" or k.startswith("ecopark.")]:
        del sys.modules[key]  # the next module is the first of ecopark's to be imported
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name}: {type(error).__name__}: {error}")
print(len(names))
print("\\n".join(failed))
"""


def test_every_module_imports_first_in_a_fresh_interpreter():
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH_FIRST], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    count, *failed = done.stdout.strip().splitlines()
    assert int(count) > 100  # every module was tried
    assert not [line for line in failed if line], "\n".join(failed)


def test_the_call_auction_imports_from_the_carbon_market_first():
    """`from ecopark.markets.carbon import clear_uniform_price` in a fresh interpreter: a cycle
    (carbon -> policies -> intensity_target -> carbon) made it an ImportError before."""
    done = subprocess.run([sys.executable, "-c", "from ecopark.markets.carbon import clear_uniform_price"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
