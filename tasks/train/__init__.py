"""Training stages (docs/training.md): data from catalog snapshots, one engine, checkpoints.

* ``tasks.train.run``           the library entry: ``run_stage`` / ``run_all`` (runs row, plan, fit)
* ``tasks.train.params``        pydantic parameter models of the flows (``EngineSettings``: once)
* ``tasks.train.data``          snapshot checks, ``StreamDataset`` (seeded, resumable order)
* ``tasks.train.engine``        ``Engine``: AdamW, warmup + cosine, clipping, EMA, bf16, DDP
* ``tasks.train.checkpointing`` safetensors + JSON checkpoint folders, keep-latest-k, resume
* ``tasks.train.callbacks``     callbacks: messages, TensorBoard, catalog metrics/checkpoints
* ``tasks.train.stages``        ``prepare(params) -> StagePlan`` (every check), ``execute(plan)``
* ``tasks.train.distributed``   the same ``execute`` on Ray Train's TorchTrainer (DDP)

Only ``tasks.train.tasks`` imports Prefect: the ``train-stage`` task (which
calls ``run_stage``) and its artifact callback; flows/train.py calls the task.
"""
