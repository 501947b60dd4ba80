"""The per-month speed paths of issue 28 (second round) give what the plain computation gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ecopark.model import ParkModel
from ecopark.scenario import load_scenario


def _model(overrides=None) -> ParkModel:
    return ParkModel(load_scenario("generic", overrides or {}), seed=0)


def test_policy_stream_tables_are_the_plain_lists_and_follow_new_params():
    model = _model({"policies.reuse_subsidy.enabled": True, "policies.reuse_quota.enabled": True,
                    "policies.reuse_quota.streams": ["fly_ash"]})
    cat = model.catalogue
    plain = {
        "landfill_tax": lambda p: [p.by_stream.get(k, p.rate if s.landfilled else 0.0) for k, s in cat.streams.items()],
        "reuse_subsidy": lambda p: [p.by_stream.get(k, {"t": p.rate, "GJ": p.rate_per_gj}.get(s.unit, 0.0))
                                    for k, s in cat.streams.items()],
        "reuse_quota": lambda p: [p.fine if k in p.streams else 0.0 for k in cat.stream_keys],
    }
    method = {"landfill_tax": "rates", "reuse_subsidy": "rates", "reuse_quota": "fine_per_unit"}
    for name, build in plain.items():
        policy = model.government.policies.get(name)
        table = getattr(policy, method[name])(cat)
        assert (table == np.array(build(policy.params))).all()
        assert getattr(policy, method[name])(cat) is table  # kept while params and catalogue are the same
        with pytest.raises(ValueError):
            table[0] = 1.0  # read-only: no caller changes what the next one gets
        field = "fine" if name == "reuse_quota" else "rate"
        policy.params = dataclasses.replace(policy.params, **{field: getattr(policy.params, field) + 7.0})
        fresh = getattr(policy, method[name])(cat)
        assert fresh is not table and (fresh == np.array(build(policy.params))).all()
        assert (fresh != table).any()
