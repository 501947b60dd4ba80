"""Every preset's outputs on two seeds against the stored reference (ecopark/regression.py).

A failure lists what changed. If the change is intended (the economics changed on purpose),
refresh the reference with ``python -m ecopark.regression refresh`` and commit it.
"""

from __future__ import annotations

import ecopark
from ecopark import regression


def test_outputs_match_the_reference() -> None:
    reference = regression.load()
    assert len(reference["runs"]) >= 10  # every preset, and the platform case, on two seeds
    found = regression.differences(reference, regression.compute(digits=reference["digits"]))
    assert not found, (f"{len(found)} outputs differ from the regression reference; if the change is intended, run "
                       f"`{regression.REFRESH_COMMAND}` and commit the file:\n" + "\n".join(found[:40]))


def test_fingerprint_notices_any_change_of_an_output() -> None:
    result = ecopark.run("qinzhou", steps=6, seed=1)
    before = regression.fingerprint(result)
    assert not regression.differences(before, regression.fingerprint(result))
    column = result.timeseries.columns[0]
    result.timeseries.loc[3, column] += 1e-6 * (abs(result.timeseries.loc[3, column]) + 1)
    result.ledger.loc[0, "amount_yuan"] += 0.01
    result.metrics["firms_final"] += 1
    found = regression.differences(before, regression.fingerprint(result))
    assert any(line.startswith(f"timeseries/columns/{column}/") for line in found)
    assert any(line.startswith("ledger/") for line in found)
    assert any(line.startswith("metrics/firms_final") for line in found)


def test_reference_file_is_small() -> None:
    assert regression.REFERENCE.stat().st_size < 200_000
