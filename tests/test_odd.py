"""docs/ODD.md keeps up with the code: every state variable, instrument and phase is named.

The ODD model description names things by their code names in backticks. These tests read
the names from the code (the tables of per-firm, per-link and per-loan variables, the
policy registry, the calls of ``ParkModel.step``, the attributes the model and its markets
keep, the ledgers' transfer kinds) and fail, listing what is missing, as soon as the code
has a name the ODD does not document.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

from ecopark.agents import Bank, Government, ParkOperator
from ecopark.agents.abatement import AbatementPortfolio
from ecopark.agents.enterprise import FIRM_STREAM_VARIABLES, FIRM_VARIABLES
from ecopark.ledger import ALLOWANCE_KINDS, MONEY_KINDS
from ecopark.markets.byproduct import ByproductMarket
from ecopark.markets.carbon import CarbonMarket
from ecopark.markets.contracts import LINK_FIELDS
from ecopark.markets.credit import LOAN_FIELDS, CreditMarket
from ecopark.model import ParkModel
from ecopark.policies import REGISTRY, Policy

ODD_PATH = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"

CODE_SPAN = re.compile(r"`([^`\n]+)`")
#: A phase call: ``self.<name>(``, ``self.<attr>.<name>(`` (any depth) or ``<name>(self)``.
CALL = re.compile(r"(?<![\w.])(?P<prefix>self\.(?:\w+\.)*)?(?P<name>\w+)\((?P<own>self\))?")
#: Attributes that are wiring back to the model, not state.
NOT_STATE = {"model"}

SECTIONS = (
    "1. Purpose and patterns",
    "2. Entities, state variables and scales",
    "3. Process overview and scheduling",
    "4. Design concepts",
    "5. Initialisation",
    "6. Input data",
    "7. Submodels",
)
DESIGN_CONCEPTS = ("Basic principles", "Emergence", "Adaptation", "Objectives", "Learning", "Prediction",
                   "Sensing", "Interaction", "Stochasticity", "Collectives", "Observation")


# -- reading the ODD -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def odd() -> str:
    assert ODD_PATH.is_file(), f"{ODD_PATH} is missing"
    return ODD_PATH.read_text(encoding="utf-8")


def section(text: str, number: int) -> str:
    """Text of the top-level section ``## <number>. ...`` up to the next ``## `` heading."""
    match = re.search(rf"^## {number}\. .*?(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"docs/ODD.md has no section '## {number}. ...'"
    return match.group(0)


def calls_in(code: str) -> list[str]:
    """Names of the phase calls in ``code``, in order (see ``CALL``)."""
    return [m["name"] for m in CALL.finditer(code) if m["prefix"] or m["own"]]


def documented_names(text: str) -> set[str]:
    """Every name written in backticks: the span itself and, for a dotted name or a call such
    as ``self.credit.step()``, the name it ends with and the names of the calls in it."""
    names = set()
    for span in CODE_SPAN.findall(text):
        names.add(span)
        dotted = re.fullmatch(r"(?:\w+\.)*(\w+)(?:\(.*\))?", span)
        if dotted:
            names.add(dotted.group(1))
        names.update(calls_in(span))
    return names


def table_rows(text: str) -> list[list[str]]:
    """Cells of every Markdown table row in ``text`` (separator rows left out)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        rows.append(cells)
    return rows


def missing(groups: dict[str, Iterable[str]], documented: set[str]) -> dict[str, list[str]]:
    """For each group of code names, those not in ``documented`` (empty groups left out)."""
    out = {group: [name for name in names if name not in documented] for group, names in groups.items()}
    return {group: names for group, names in out.items() if names}


def report(gaps: dict[str, list[str]], where: str) -> str:
    lines = [f"docs/ODD.md does not name these in {where} (add them, in backticks):"]
    lines += [f"  {group}: {', '.join(names)}" for group, names in gaps.items()]
    return "\n".join(lines)


# -- reading the code ------------------------------------------------------------------------
def step_phase_calls() -> list[str]:
    """The calls ParkModel.step makes, in source order (its docstring left out)."""
    source = textwrap.dedent(inspect.getsource(ParkModel.step))
    func = ast.parse(source).body[0]
    assert isinstance(func, ast.FunctionDef)
    body = func.body[1:] if ast.get_docstring(func) is not None else func.body
    code = "\n".join(ast.get_source_segment(source, stmt) or "" for stmt in body)
    calls = calls_in(code)
    assert calls, "found no phase calls in ParkModel.step"
    return calls


def state_attributes(cls: type) -> list[str]:
    """Public attributes a class assigns on ``self`` in any of its methods."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                if (isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name) and item.value.id == "self"
                        and not item.attr.startswith("_") and item.attr not in NOT_STATE and item.attr not in names):
                    names.append(item.attr)
    return names


STATE_TABLES = {
    "FIRM_VARIABLES": list(FIRM_VARIABLES),
    "FIRM_STREAM_VARIABLES": list(FIRM_STREAM_VARIABLES),
    "LINK_FIELDS": list(LINK_FIELDS),
    "LOAN_FIELDS": list(LOAN_FIELDS),
}
STATEFUL_CLASSES = (ParkModel, ByproductMarket, CarbonMarket, CreditMarket, AbatementPortfolio,
                    Government, ParkOperator, Bank, Policy)


# -- tests -----------------------------------------------------------------------------------
def test_odd_names_every_state_variable_policy_and_phase(odd):
    groups = {
        **STATE_TABLES,
        "policies (ecopark.policies.REGISTRY)": sorted(REGISTRY),
        "phase calls of ParkModel.step": list(dict.fromkeys(step_phase_calls())),
    }
    gaps = missing(groups, documented_names(odd))
    assert not gaps, report(gaps, "backticks anywhere")


def test_state_variables_are_rows_of_the_tables_in_section_2(odd):
    first_cells = set()
    for cells in table_rows(section(odd, 2)):
        first_cells.update(CODE_SPAN.findall(cells[0]))
    gaps = missing(STATE_TABLES, first_cells)
    assert not gaps, report(gaps, "the first column of a table in section 2")


def test_model_and_market_state_attributes_are_named(odd):
    groups = {cls.__name__: state_attributes(cls) for cls in STATEFUL_CLASSES}
    assert "common_shock" in groups["ParkModel"] and "expected_carbon_price" in groups["ParkModel"]
    gaps = missing(groups, documented_names(odd))
    assert not gaps, report(gaps, "backticks anywhere")


def test_ledger_transfer_kinds_are_named(odd):
    groups = {"MONEY_KINDS": list(MONEY_KINDS), "ALLOWANCE_KINDS": list(ALLOWANCE_KINDS)}
    gaps = missing(groups, documented_names(odd))
    assert not gaps, report(gaps, "backticks anywhere")


def test_phase_table_lists_the_calls_of_step_in_order(odd):
    """The 'call' column of the table in section 3 is ParkModel.step's calls, in order."""
    rows = table_rows(section(odd, 3))
    header = [cell.lower() for cell in rows[0]]
    assert "call" in header, "section 3 needs a table with a 'call' column"
    column = header.index("call")
    listed = [name for cells in rows[1:] for span in CODE_SPAN.findall(cells[column]) for name in calls_in(span)]
    expected = step_phase_calls()
    assert listed == expected, (
        "the phase table of docs/ODD.md section 3 is out of step with ParkModel.step:\n"
        f"  ODD:  {', '.join(listed)}\n  code: {', '.join(expected)}"
    )


def test_odd_has_the_sections_and_design_concepts_of_the_protocol(odd):
    headings = re.findall(r"^#{2,3} (.+)$", odd, flags=re.MULTILINE)
    absent = [title for title in SECTIONS if title not in headings]
    concepts = section(odd, 4)
    absent += [f"4.x {name}" for name in DESIGN_CONCEPTS
               if not re.search(rf"^### 4\.\d+ {name}\b", concepts, flags=re.MULTILINE)]
    assert not absent, f"docs/ODD.md lacks the ODD headings: {', '.join(absent)}"


def test_an_undocumented_variable_is_reported():
    """The check itself: a variable the ODD does not name makes the tests fail, by name."""
    text = "| `alive` | bool |\n| `sector` | int |\nand `produce(self)`, `self.credit.step()`"
    groups = {"FIRM_VARIABLES": ["alive", "sector", "brand_new_variable"], "phases": ["produce", "step"]}
    gaps = missing(groups, documented_names(text))
    assert gaps == {"FIRM_VARIABLES": ["brand_new_variable"]}
    assert "brand_new_variable" in report(gaps, "backticks anywhere")
