"""Grafana dashboards and alert rules as code (grafana-foundation-sdk).

``isanfarm grafana build`` writes grafana/dashboards/*.json and the alerting provisioning file
from this package; a test keeps the committed files equal to what the code generates.
``push`` uploads them to a running Grafana (its HTTP API, httpx), ``preview`` renders each panel's
query result with matplotlib. docs/grafana.md describes the dashboards, variables and alerts.
"""
