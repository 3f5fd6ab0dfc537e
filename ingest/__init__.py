"""Ingest: MQTT telemetry in, validated InfluxDB points out, rejects kept with their reason."""
