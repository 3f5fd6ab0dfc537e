"""Forecasting models: cassava yield and starch with intervals, harvest window and revenue,
cattle days-to-market (docs/forecasts.md).

Server side only: never imported by the edge agent. Heavy imports (scikit-learn, numpy,
matplotlib) live in the modules that use them; ``isanfarm train|forecast|evaluate`` import
them lazily.
"""
