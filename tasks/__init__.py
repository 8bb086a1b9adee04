"""Prefect tasks and their plain-Python work functions (testable without Prefect).

One package per pipeline (``objects``, ``videos``, ``train``, ``generation``,
``evaluation``); none imports another (an import-linter contract). What two
of them share is a module at this level (``checkpoint_loading``,
``grid_sampling``, ``baselines``, ``metrics``, ``recording``, ``snapshot``, ...)
or lower (``core.video``, ``core.resize``).
"""
