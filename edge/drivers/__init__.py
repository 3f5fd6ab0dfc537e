"""Sensor drivers, chosen by name in the agent's TOML config.

The hardware drivers that ship with the agent are listed in ``DRIVERS``; any other installed
package adds a driver by declaring an entry point in the ``isanfarm.edge_drivers`` group
(``name = "module:factory"``), as the simulators do for ``simulated``. So the edge never imports
a simulator, and a new driver is one new module plus one line. A driver's hardware library is
imported inside its own module only, so a gateway without that hardware never needs the library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from edge.drivers.base import Driver, Sample

#: The entry-point group through which other packages contribute drivers.
ENTRY_POINT_GROUP = "isanfarm.edge_drivers"

#: driver name -> "module:factory"; the factory takes the driver's TOML table as keywords.
DRIVERS: Mapping[str, str] = {
    "ds18b20": "edge.drivers.ds18b20:Ds18b20Driver",
    "modbus": "edge.drivers.modbus:ModbusDriver",
    "rain_gauge": "edge.drivers.rain_gauge:RainGaugeDriver",
}


def available_drivers() -> dict[str, str]:
    """Every driver name this installation knows: the agent's own, then installed plug-ins."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **DRIVERS}


def load_driver(name: str, options: Mapping[str, Any]) -> Driver:
    drivers = available_drivers()
    try:
        target = drivers[name]
    except KeyError:
        raise ValueError(
            f"driver {name!r} is unknown: use one of {', '.join(sorted(drivers))}"
        ) from None
    module_name, _, factory_name = target.partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    try:
        driver: Driver = factory(**options)
    except TypeError as exc:
        # An unknown or missing option: say which driver it was for.
        raise ValueError(f"driver {name!r}: {exc}") from None
    return driver


__all__ = ["DRIVERS", "ENTRY_POINT_GROUP", "Driver", "Sample", "available_drivers", "load_driver"]
