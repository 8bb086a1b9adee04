"""Prefect flows: thin orchestration over tasks/ and the libraries."""

from core.env import configure_environment

configure_environment()
