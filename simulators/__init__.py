"""Simulated farms: weather, a cassava field and a cattle barn that stand in for hardware.

The live device models here use the standard library only, because the edge agent runs them
through its `simulated` driver on a Pi that has nothing else installed.
"""
