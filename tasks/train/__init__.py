"""Training stages (docs/training.md): data from catalog snapshots, one engine, checkpoints.

* ``tasks.train.params``        pydantic parameter models of the flows
* ``tasks.train.data``          snapshot checks, ``StreamDataset`` (seeded, resumable order)
* ``tasks.train.engine``        ``Engine``: AdamW, warmup + cosine, clipping, EMA, bf16, DDP
* ``tasks.train.checkpointing`` safetensors + JSON checkpoint folders, keep-latest-k, resume
* ``tasks.train.callbacks``       callbacks: TensorBoard, catalog metrics/checkpoints, Prefect
* ``tasks.train.stages``        ``prepare(params) -> StagePlan`` (every check), ``execute(plan)``
* ``tasks.train.distributed``   the same ``execute`` on Ray Train's TorchTrainer (DDP)

The engine, data and checkpointing import no Prefect; flows/train.py wires
the Prefect artifact callback in.
"""
