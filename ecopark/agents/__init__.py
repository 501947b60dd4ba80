"""The park's agents: enterprises, the park operator, banks and government."""

from ecopark.agents.bank import Bank
from ecopark.agents.enterprise import Enterprise, FirmTable
from ecopark.agents.government import Government
from ecopark.agents.operator import ParkOperator

__all__ = ["Bank", "Enterprise", "FirmTable", "Government", "ParkOperator"]
