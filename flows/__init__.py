"""Prefect flows: compose tasks only."""
