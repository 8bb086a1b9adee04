"""Prefect flows: thin orchestration over tasks/ and the libraries."""

from fourreal.env import configure_environment

configure_environment()
