"""Request dependencies: what a route needs, taken from the app built at start-up."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.settings import ApiSettings
from isanfarm.influx import InfluxV1


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def get_influx(request: Request) -> InfluxV1:
    influx: InfluxV1 = request.app.state.influx
    return influx


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
InfluxDep = Annotated[InfluxV1, Depends(get_influx)]
