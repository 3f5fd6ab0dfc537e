"""Settings of the train, forecast and evaluate jobs, from ``ISANFARM_`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from isanfarm.settings import ENV_CONFIG, InfluxSettings
from models.price import HarvestCalendar, PriceRule


class ModelSettings(BaseSettings):
    model_config = ENV_CONFIG

    influx: InfluxSettings = InfluxSettings()
    #: The registry the forecast job reads fields, herds and animals from (as the API).
    database_url: str = "sqlite:///state/isanfarm.sqlite3"
    #: Where trained models and their metadata live (``models.modelstore``).
    model_dir: Path = Path("state/models")
    #: Price rule (``models.price.PriceRule``): THB/kg at 25% starch, THB/kg per starch point.
    price_base_thb_kg: float = Field(2.5, gt=0)
    price_per_starch_point: float = Field(0.06, ge=0)
    price_baseline_starch_pct: float = Field(25.0, gt=0, lt=100)
    #: Gaps: the share of the season's days each daily variable must be observed on.
    min_coverage: float = Field(0.5, ge=0, le=1)
    #: ... and the share of the last 30 days.
    min_recent_coverage: float = Field(0.25, ge=0, le=1)
    #: Animals with no target weight in the registry (or not registered) use this one.
    default_target_weight_kg: float = Field(750.0, gt=0)
    #: A weather-forecast feed speaking Open-Meteo's forecast API (``models.weatherfeed``),
    #: e.g. ``https://api.open-meteo.com`` or a self-hosted Open-Meteo: the forecast job asks
    #: it each farm's 16-day forecast once per run. Unset: no feed (forecasts as before).
    weather_feed_url: str | None = None
    #: Seconds one farm's request may take before that farm is forecast without the feed.
    weather_feed_timeout_s: float = Field(10.0, gt=0)

    @field_validator("weather_feed_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{value!r} is not an http(s) URL: set ISANFARM_WEATHER_FEED_URL to the "
                "service's base, e.g. https://api.open-meteo.com, or unset it for no feed"
            )
        return value.rstrip("/")

    def price_rule(self) -> PriceRule:
        return PriceRule(
            base_thb_per_kg=self.price_base_thb_kg,
            baseline_starch_pct=self.price_baseline_starch_pct,
            thb_per_point=self.price_per_starch_point,
        )

    def calendar(self) -> HarvestCalendar:
        return HarvestCalendar()
