"""The local stack behind ``fourreal up/down/status``: a Prefect server on loopback, work
pools, deployments and workers, each process recorded by pid and stopped by pid.

- ``processes``: spawn, record (pid + start time), stop with descendants;
- ``pools``: work pools, ``prefect deploy --all``, workers;
- ``server``: configuration, state file, ``up`` / ``down`` / ``status``.
"""
