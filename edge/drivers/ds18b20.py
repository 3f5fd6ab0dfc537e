"""DS18B20 temperature probes on the Linux 1-wire bus, read through sysfs.

The kernel's ``w1-gpio`` overlay (``dtoverlay=w1-gpio`` in ``/boot/firmware/config.txt``) does
the bus timing and exposes each probe as ``/sys/bus/w1/devices/28-<serial>/w1_slave``, so this
driver needs nothing beyond the standard library. Reading that file starts a conversion and
takes about 750 ms at 12-bit resolution.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from edge.drivers.base import DriverError, Sample, check_reading_name
from isanfarm.contract import Sensor

DEFAULT_BASE_DIR = "/sys/bus/w1/devices"
#: Family code 28 is the DS18B20; the rest of the id is the probe's 48-bit serial number.
SENSOR_ID = re.compile(r"28-[0-9a-f]{12}")
#: The scratchpad's power-on value: the probe lost power or never finished a conversion.
POWER_ON_RESET_MILLIDEGREES = 85_000
#: The scratchpad's byte 4 is the configuration register, whose five low bits always read 1
#: (DS18B20 datasheet, "Configuration Register"). A DATA line shorted to ground reads nine zero
#: bytes, whose CRC-8 is also zero: the kernel says YES and t=0, a plausible 0.0 degC.
CONFIG_REGISTER_BYTE = 4
CONFIG_REGISTER_ONES = 0x1F
_TEMPERATURE = re.compile(r"t=(-?\d+)\s*$")


class Ds18b20Driver:
    """One probe per driver; with one probe on the bus its id may be left out of the config."""

    def __init__(
        self,
        reading: str = Sensor.SOIL_TEMPERATURE,
        sensor_id: str | None = None,
        base_dir: str = DEFAULT_BASE_DIR,
    ) -> None:
        check_reading_name(reading, "[[sensors]] ds18b20")
        if sensor_id is not None and not SENSOR_ID.fullmatch(str(sensor_id)):
            raise ValueError(
                f"[driver] sensor_id {sensor_id!r} is not a DS18B20 id: use the directory name "
                f"under {base_dir}, e.g. '28-0316a2795dff', or leave it out if there is one probe"
            )
        self.reading = reading
        self.sensor_id = sensor_id
        self._found_on_the_bus = sensor_id is None
        self.base_dir = Path(base_dir)

    def read(self, ts_ms: int) -> Sequence[Sample]:
        sensor_id = self.sensor_id or find_single_sensor(self.base_dir)
        # Remembered only once found, so a probe plugged in after start-up is still picked up.
        self.sensor_id = sensor_id
        path = self.base_dir / sensor_id / "w1_slave"
        try:
            text = path.read_text()
        except OSError as exc:
            if self._found_on_the_bus:
                self.sensor_id = None  # a probe swapped for a new one is found on the next read
            raise DriverError(
                f"DS18B20 {sensor_id}: cannot read {path}: {exc.strerror or exc}; "
                "check the probe's wiring and that it is still listed on the bus"
            ) from None
        return [Sample({self.reading: parse_w1_slave(text, sensor_id)})]

    def close(self) -> None:
        return None


def find_single_sensor(base_dir: Path) -> str:
    """The id of the only DS18B20 on the bus; anything else needs ``sensor_id`` in the config."""
    try:
        found = sorted(p.name for p in base_dir.iterdir() if SENSOR_ID.fullmatch(p.name))
    except OSError as exc:
        raise DriverError(
            f"DS18B20: cannot list {base_dir}: {exc.strerror or exc}; enable the 1-wire bus "
            "with dtoverlay=w1-gpio in /boot/firmware/config.txt and reboot"
        ) from None
    if not found:
        raise DriverError(
            f"DS18B20: no probe (28-*) under {base_dir}; check the wiring and the 4.7 kOhm "
            "pull-up between DATA and 3.3 V"
        )
    if len(found) > 1:
        raise DriverError(
            f"DS18B20: {len(found)} probes under {base_dir} ({', '.join(found)}); set "
            "[driver] sensor_id to the one this device should read"
        )
    return found[0]


def parse_w1_slave(text: str, sensor_id: str) -> float:
    """Degrees Celsius from the two lines of ``w1_slave``, or DriverError for a bad read.

    Line one ends in ``YES`` when the scratchpad's CRC matched; line two ends in
    ``t=<millidegrees>``.
    """
    lines = text.splitlines()
    if len(lines) < 2:
        raise DriverError(
            f"DS18B20 {sensor_id}: w1_slave has {len(lines)} line(s), expected 2; the probe "
            "dropped off the bus during the read, check its wiring"
        )
    if not lines[0].rstrip().endswith("YES"):
        raise DriverError(
            f"DS18B20 {sensor_id}: CRC check failed; check the cable and the 4.7 kOhm pull-up"
        )
    _check_scratchpad(lines[0], sensor_id)
    match = _TEMPERATURE.search(lines[1])
    if match is None:
        raise DriverError(f"DS18B20 {sensor_id}: no t=<millidegrees> in {lines[1]!r}")
    millidegrees = int(match.group(1))
    if millidegrees == POWER_ON_RESET_MILLIDEGREES:
        raise DriverError(
            f"DS18B20 {sensor_id}: read its power-on value 85.0 degC, not a temperature; "
            "check the supply (VDD to 3.3 V, not parasitic power on a long cable)"
        )
    return millidegrees / 1000


def _check_scratchpad(line: str, sensor_id: str) -> None:
    """The bytes before ``: crc=`` must be a scratchpad the probe can produce."""
    try:
        scratchpad = bytes.fromhex(line.split(":", 1)[0])
    except ValueError:
        scratchpad = b""
    if len(scratchpad) != 9:
        raise DriverError(f"DS18B20 {sensor_id}: no 9-byte scratchpad in {line!r}")
    if scratchpad[CONFIG_REGISTER_BYTE] & CONFIG_REGISTER_ONES != CONFIG_REGISTER_ONES:
        raise DriverError(
            f"DS18B20 {sensor_id}: the scratchpad ({scratchpad.hex(' ')}) is not one a probe "
            "writes (all zeros: the DATA line is shorted to ground, often water in a cable "
            "joint); check the cable"
        )
