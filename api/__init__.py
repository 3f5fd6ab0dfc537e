"""The cooperative API (FastAPI)."""
