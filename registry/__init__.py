"""The registry: cooperatives, their member farms, fields, herds, animals, devices, API keys
and alerts, in a relational database (SQLite by default, PostgreSQL in production)."""
