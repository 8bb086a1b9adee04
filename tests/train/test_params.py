"""Each training setting is declared once: the engine reads the parameter model's fields,
and ``train_all`` restates no default of the stages it runs."""

from __future__ import annotations

from tasks.train.engine import EngineConfig
from tasks.train.params import (
    EngineSettings,
    TrainAllParams,
    TrainBaseParams,
    TrainSyncParams,
    TrainUpsamplerParams,
)


def test_the_engine_reads_every_engine_setting_of_the_parameters():
    params = TrainBaseParams(dataset="clips", lr=3e-4, loader_workers=0, keep_last=5)
    engine = EngineConfig.of("base", params)
    for name in EngineSettings.model_fields:
        assert getattr(engine, name) == getattr(params, name), name
    # one default for both (loader_workers was 2 in the flows and 0 in the engine)
    bare, flow = (
        EngineConfig(stage="sync"),
        TrainSyncParams(parent_checkpoint="c", objaverse_dataset="o", pseudo4d_steps=0),
    )
    for name in EngineSettings.model_fields:
        assert getattr(bare, name) == getattr(flow, name), name
    assert bare.loader_workers == 2


def test_train_all_passes_the_stages_their_own_defaults():
    chained = TrainAllParams(clips_dataset="clips", objaverse_dataset="objv", pseudo4d_steps=0)
    pairs = [
        (chained.base(), TrainBaseParams(dataset="clips")),
        (chained.sync_params("ckpt"),
         TrainSyncParams(parent_checkpoint="ckpt", objaverse_dataset="objv", pseudo4d_steps=0)),
        (chained.upsampler(), TrainUpsamplerParams(dataset="clips")),
    ]  # fmt: skip
    for got, alone in pairs:
        assert got.model_dump() == alone.model_dump()
