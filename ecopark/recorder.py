"""The model's DataCollector of step metrics (``ParkModel.datacollector``).

Kept apart from ``records.py`` so that what imports the record tables (a sweep's parent
process) does not import Mesa.
"""

from __future__ import annotations

import types
from copy import deepcopy

import mesa
import numpy as np

_NUMBERS = (float, int, np.number, np.bool_)
#: The number types reporters return, recognised without an isinstance call (others: isinstance).
_NUMBER_TYPES = frozenset({float, int, np.float64, np.int64, np.bool_})


class StepRecorder(mesa.DataCollector):
    """Mesa's DataCollector, recording model reporters that are plain functions of the model
    without Mesa's per-value deepcopy where the value is a number (immutable: the copy changes
    nothing but the time it takes). Everything else, including ``model_vars`` and
    ``get_model_vars_dataframe``, is Mesa's."""

    def collect(self, model) -> None:
        """Record every model reporter's value for this step."""
        if self.agent_reporters or self.agenttype_reporters:
            super().collect(model)  # agent reporters: Mesa's own
            return
        reporters = tuple(self.model_reporters.values())
        if reporters != getattr(self, "_plain_reporters", None):  # checked once per set of reporters
            if not all(isinstance(r, types.FunctionType) for r in reporters):
                super().collect(model)  # anything but plain functions of the model: Mesa's own
                return
            self._plain_reporters = reporters
        if not self._validated:  # Mesa's first-step check (it calls each reporter once more)
            for name, reporter in self.model_reporters.items():
                self._validate_model_reporter(name, reporter, model)
        model_vars = self.model_vars
        for var, reporter in self.model_reporters.items():
            value = reporter(model)
            model_vars[var].append(value if type(value) in _NUMBER_TYPES or isinstance(value, _NUMBERS)
                                   else deepcopy(value))
