"""Prefect tasks and their plain-Python work functions (testable without Prefect)."""
