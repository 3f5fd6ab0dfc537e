"""Alerts to farmers' phones: subscriptions, Thai messages, a durable outbox to LINE and e-mail."""
