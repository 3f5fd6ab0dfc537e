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
    "ds18b20": "edge.drivers.ds18b20:Ds18b20Driver",
    "modbus": "edge.drivers.modbus:ModbusDriver",
    "rain_gauge": "edge.drivers.rain_gauge:RainGaugeDriver",
}


def load_driver(name: str, options: Mapping[str, Any]) -> Driver:
    try:
        target = DRIVERS[name]
    except KeyError:
        raise ValueError(f"driver {name!r} is unknown: use one of {', '.join(DRIVERS)}") from None
    module_name, _, factory_name = target.partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    try:
        driver: Driver = factory(**options)
    except TypeError as exc:
        # An unknown or missing option: say which driver it was for.
        raise ValueError(f"driver {name!r}: {exc}") from None
    return driver


__all__ = ["DRIVERS", "Driver", "Sample", "load_driver"]
