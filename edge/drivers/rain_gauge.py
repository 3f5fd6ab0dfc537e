"""A tipping-bucket rain gauge: a reed switch that closes once per bucket tip, on one GPIO pin.

Tips arrive on gpiozero's callback thread at any time, while the agent reads on its own
schedule, so tips are counted under a lock and each read hands over the rain since the previous
read. Counting starts when the driver is built: rain that falls before the first read is not
lost. Tips counted since the last read when the agent stops (an upgrade, a reboot) are kept in
``state_file`` and handed over by the first read after the restart. gpiozero is imported here
only, so gateways without a gauge never need it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

from edge.drivers.base import DriverError, Sample
from edge.statefiles import write_durably
from isanfarm.contract import Sensor

log = logging.getLogger(__name__)

READING = Sensor.RAIN
#: A tip closes the reed switch for a fraction of a second as the magnet swings past. Closed
#: for longer, the bucket is stuck or the cable shorted, and the gauge would report dry days
#: (DOMAIN.md: a clogged gauge shows as zero rain).
STUCK_AFTER_S = 30.0


class RainGaugeDriver:
    """Rain (mm) since the previous read: tips x ``mm_per_tip``, then the count starts over."""

    def __init__(
        self,
        pin: int | None = None,
        mm_per_tip: float = 0.2,
        bounce_s: float = 0.05,
        pull_up: bool = True,
        reading: str = READING,
        pin_factory: Any = None,
        stuck_after_s: float = STUCK_AFTER_S,
        state_file: str | None = None,
    ) -> None:
        pin = _check_options(pin, mm_per_tip, bounce_s, pull_up, reading)
        if not (_is_number(stuck_after_s) and stuck_after_s > 0):
            raise ValueError(
                f"[driver] stuck_after_s must be a number > 0, got {stuck_after_s!r}: the "
                f"seconds a closed switch means a stuck bucket, e.g. {STUCK_AFTER_S:g}"
            )
        self.pin, self.mm_per_tip = pin, float(mm_per_tip)
        self.stuck_after_s = float(stuck_after_s)
        self._lock = threading.Lock()
        self._state_file = None if state_file is None else Path(state_file)
        self._tips = self._tips_kept_at_stop()
        self._button = _open_button(pin, float(bounce_s), pull_up, pin_factory)
        self._button.when_activated = self._count_tip

    def _count_tip(self) -> None:
        with self._lock:
            self._tips += 1

    def read(self, ts_ms: int) -> Sequence[Sample]:
        """Raises DriverError while the switch is stuck closed; the tips counted meanwhile
        are kept and reported by the first read after it opens."""
        closed_s = self._button.active_time or 0.0
        if closed_s > self.stuck_after_s:
            raise DriverError(
                f"rain gauge on GPIO {self.pin}: the switch has been closed for {closed_s:.0f} s "
                "(a tip closes it for a moment): the bucket is stuck or the cable is shorted; "
                "clean the funnel and check the wiring"
            )
        with self._lock:
            tips, self._tips = self._tips, 0
        return [Sample({READING: tips * self.mm_per_tip})]

    def close(self) -> None:
        self._button.close()
        with self._lock:
            tips, self._tips = self._tips, 0
        if self._state_file is not None and tips:
            self._keep_tips(self._state_file, tips)

    def _tips_kept_at_stop(self) -> int:
        """The tips the previous run counted after its last read (0 if none or unreadable),
        taken out of the file so that they are handed over once."""
        if self._state_file is None:
            return 0
        try:
            text = self._state_file.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.error("rain gauge on GPIO %s: cannot read %s (%s)", self.pin, self._state_file, exc)
            return 0
        self._state_file.unlink(missing_ok=True)
        if not text.isdigit():
            log.error(
                "rain gauge on GPIO %s: %s holds %r, not a tip count; ignored",
                self.pin,
                self._state_file,
                text[:40],
            )
            return 0
        return int(text)

    def _keep_tips(self, path: Path, tips: int) -> None:
        try:
            write_durably(path, f"{tips}\n")
        except OSError as exc:
            log.error(
                "rain gauge on GPIO %s: %d tip(s) since the last read are lost: cannot write "
                "%s (%s)",
                self.pin,
                tips,
                path,
                exc,
            )


def _check_options(
    pin: object, mm_per_tip: object, bounce_s: object, pull_up: object, reading: object
) -> int:
    """The validated pin number, or ValueError naming the first bad option."""
    if pin is None:
        raise ValueError(
            "[driver] pin is required: set it to the BCM number the gauge is wired to, "
            "e.g. pin = 17 for header pin 11"
        )
    if isinstance(pin, bool) or not isinstance(pin, int) or pin < 0:
        raise ValueError(
            f"[driver] pin {pin!r} is not a GPIO number: set it to the BCM number the gauge "
            "is wired to, e.g. pin = 17 for header pin 11"
        )
    if not (_is_number(mm_per_tip) and mm_per_tip > 0):
        raise ValueError(
            f"[driver] mm_per_tip must be a number > 0, got {mm_per_tip!r}: use the gauge's "
            "calibration, e.g. 0.2"
        )
    if not (_is_number(bounce_s) and bounce_s >= 0):
        raise ValueError(
            f"[driver] bounce_s must be a number >= 0, got {bounce_s!r}: use e.g. 0.05 "
            "(0 turns debouncing off)"
        )
    if not isinstance(pull_up, bool):
        raise ValueError(
            f"[driver] pull_up must be true or false, got {pull_up!r}: true when the switch "
            "connects the pin to ground, false when it connects it to 3.3 V"
        )
    if reading != READING:
        raise ValueError(
            f"[driver] reading {reading!r} is not what a rain gauge measures: use {READING!r} "
            "or leave it out"
        )
    return pin


def _is_number(value: object) -> TypeGuard[float]:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _open_button(pin: int, bounce_s: float, pull_up: bool, pin_factory: Any) -> Any:
    """The gauge's switch as a gpiozero Button; DriverError when the pin cannot be claimed."""
    from gpiozero import Button

    try:
        return Button(
            pin,
            pull_up=pull_up,
            bounce_time=bounce_s or None,
            pin_factory=pin_factory,
        )
    # gpiozero's own errors (no pin library, pin in use) and its backends' (lgpio's
    # "GPIO busy") share no base class: any failure here means the pin cannot be used.
    except Exception as exc:
        raise DriverError(
            f"rain gauge on GPIO {pin}: cannot open the pin: {exc}; check that this is a "
            "Raspberry Pi with a GPIO library (lgpio) installed and that no other program "
            "uses the pin"
        ) from None
