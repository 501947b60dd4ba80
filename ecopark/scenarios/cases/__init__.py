"""The case library: the industry report's named parks as small scenarios (docs/cases.md)."""
