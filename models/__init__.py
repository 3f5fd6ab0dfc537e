"""Forecasting models (cassava yield and starch, cattle days-to-market).

Empty in the walking skeleton; the issue "Forecasts" fills it. Server side only: never imported
by the edge agent.
"""
