"""Queries naming thousands of ids (every registered field, every device) on a real InfluxDB:
the statement travels in the request body, so its length is no limit."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import numpy as np
import pytest

from isanfarm.influx import InfluxError, InfluxV1, ids_regex, series_rows
from models.store import daily_values, local_midnight_ms

pytestmark = pytest.mark.integration
SITES = [f"korat-coop-farm{number:05d}-f1" for number in range(5_000)]  # 23-character ids


FARM = "farm-1"


def _noon_reading(site: str, day: date, temperature: float, farm: str = FARM) -> str:
    noon_ns = (local_midnight_ms(day) + 12 * 3_600_000) * 1_000_000
    tags = f"device={site}-n,farm={farm},site={site}"
    return f"telemetry,{tags} air_temperature={temperature} {noon_ns}"


def test_a_query_naming_5000_ids_returns_the_rows_of_exactly_those_ids(influx: InfluxV1) -> None:
    day = date(2026, 5, 1)
    measured = {SITES[0]: 26.0, SITES[2_500]: 28.0, SITES[-1]: 30.0}
    stranger = "another-coop-farm1-f1"
    influx.write([_noon_reading(site, day, t) for site, t in {**measured, stranger: 99.0}.items()])
    statement = (
        f'SELECT "air_temperature" FROM "telemetry" WHERE "site" =~ {ids_regex(SITES)} '
        'GROUP BY "site"'
    )

    rows = series_rows(influx.query(statement)[0])

    assert {tags["site"]: row["air_temperature"] for tags, row in rows} == measured


def test_the_forecast_jobs_daily_read_of_5000_fields_finds_each_fields_day(
    influx: InfluxV1,
) -> None:
    day = date(2026, 5, 1)
    influx.write([_noon_reading(SITES[1_234], day, 27.5)])

    daily = daily_values(influx, dict.fromkeys(SITES, FARM), day, day + timedelta(days=1))

    assert len(daily) == len(SITES)
    assert daily[SITES[1_234]][0, 1] == 27.5  # tmean_c
    assert np.isnan(daily[SITES[0]]).all()


def test_an_error_inside_httpx_that_is_not_an_http_error_becomes_a_retriable_influx_error(
    influx: InfluxV1,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.InvalidURL("URL component 'query' too long")

    influx._http = httpx.Client(base_url=influx.settings.url, transport=httpx.MockTransport(refuse))

    with pytest.raises(InfluxError, match="InvalidURL: URL component 'query' too long") as caught:
        influx.query('SELECT * FROM "telemetry"')
    assert caught.value.retriable


def test_a_device_of_another_farm_naming_this_fields_site_does_not_feed_its_forecast(
    influx: InfluxV1,
) -> None:
    """A device names its site in its payload; only its farm tag comes from its topic, which
    the broker ties to its login. The audit saw another cooperative's device put 250 mm of rain
    into a field's forecast input this way."""
    day = date(2026, 5, 1)
    site = SITES[7]
    influx.write([_noon_reading(site, day, 27.0), _noon_reading(site, day, 45.0, "intruder")])

    daily = daily_values(influx, {site: FARM}, day, day + timedelta(days=1))

    assert daily[site][0, 1] == 27.0  # tmean_c: the owner's device only
