"""Sensor drivers, chosen by name in the agent's TOML config.

A new driver is one new module plus one line in ``DRIVERS``; its hardware library is imported
inside its own module only, so a gateway without that hardware never needs the library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from edge.drivers.base import Driver, Sample

#: driver name -> "module:factory"; the factory takes the driver's TOML table as keywords.
DRIVERS: Mapping[str, str] = {
    "simulated": "edge.drivers.simulated:SimulatedDriver",
}


def load_driver(name: str, options: Mapping[str, Any]) -> Driver:
    try:
        target = DRIVERS[name]
    except KeyError:
        raise ValueError(
            f"driver {name!r} is unknown: set [device] driver to one of {', '.join(DRIVERS)}"
        ) from None
    module_name, _, factory_name = target.partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    driver: Driver = factory(**options)
    return driver


__all__ = ["DRIVERS", "Driver", "Sample", "load_driver"]
