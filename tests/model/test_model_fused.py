"""The fused view-time variant (model.fused) and the variant registry (model.variants)."""

from __future__ import annotations

import copy
import dataclasses
import typing

import pytest
import torch

from core.grid import MODE_INDEX
from model.checkpoint import load_model, save_model
from model.config import FourDConfig, base_preset, fourd_preset
from model.dit import DiT
from model.fourd import build_fourd
from model.fused import FusedModel
from model.rope import apply_rope, rope_3d
from model.sparse import dense_grid_mask
from model.variants import VARIANT_NAMES, VARIANTS, VariantName, markdown_table

V, T = 3, 4


def _grid(batch: int = 1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, V, T, 3, 16, 32, generator=gen)
    known = torch.zeros(batch, V, T, dtype=torch.bool)
    known[:, 0] = known[:, :, 0] = True
    return x, torch.full((batch,), 0.6), known


def _fused(randomize, depth: int = 1, **cfg) -> FusedModel:
    torch.manual_seed(0)
    base = DiT(base_preset("tiny", depth=depth))
    model = FusedModel(randomize(base, seed=1), FourDConfig(base=base.cfg, sync="fused", **cfg))
    return randomize(model, seed=2).eval()  # the fused context and axis tables matter too


def test_the_registry_is_the_only_list_of_variants():
    assert VARIANT_NAMES == ("sequential", "hard", "soft", "fused")
    assert typing.get_args(VariantName) == VARIANT_NAMES
    for name in VARIANT_NAMES:
        cfg = fourd_preset("tiny", sync=name)
        model = build_fourd(cfg)
        x, s, known = _grid(2)
        assert model(x, s, known).shape == x.shape
        assert f"`{name}`" in markdown_table()
    with pytest.raises(ValueError, match="sync must be one of"):
        fourd_preset("tiny", sync="interleaved")


def test_finetune_modes_belong_to_the_variant():
    assert fourd_preset("tiny", sync="soft").finetune == "frozen"
    assert fourd_preset("tiny", sync="fused").finetune == "full"
    assert fourd_preset("tiny", sync="fused", finetune="lora").finetune == "lora"
    with pytest.raises(ValueError, match="finetune"):
        fourd_preset("tiny", sync="soft", finetune="lora")
    with pytest.raises(ValueError, match="lora_rank"):
        fourd_preset("tiny", sync="fused", finetune="lora", lora_rank=0)
    # a config saved before the field existed loads as its variant's default
    saved = dataclasses.asdict(fourd_preset("tiny", sync="hard"))
    del saved["finetune"], saved["lora_rank"]
    assert FourDConfig(**saved).finetune == "frozen"


@pytest.mark.parametrize("attention", ["sdpa", "flex"])
def test_one_fused_block_mixes_only_frames_of_the_same_view_or_time(randomize, attention):
    """A perturbation of frame (v1, t1) reaches frame (v2, t2) iff v1 == v2 or t1 == t2."""
    model = _fused(randomize, depth=1)
    model.attention = attention
    x, s, known = _grid()
    with torch.no_grad():  # flex_attention runs forward only on CPU
        out = model(x, s, known)
        for v1, t1 in [(1, 2), (0, 0), (2, 3)]:
            bumped = x.clone()
            bumped[:, v1, t1] += 0.5
            changed = (model(bumped, s, known) - out).abs().amax(dim=(0, 3, 4, 5)) > 1e-6  # (V, T)
            expected = torch.zeros(V, T, dtype=torch.bool)
            expected[v1, :] = expected[:, t1] = True
            assert torch.equal(changed, expected), (v1, t1, changed)


def test_flex_and_sdpa_paths_agree(randomize):
    model = _fused(randomize, depth=2)
    x, s, known = _grid(2)
    with torch.no_grad():
        model.attention = "sdpa"
        dense = model(x, s, known)
        model.attention = "flex"
        sparse = model(x, s, known)
    assert torch.allclose(dense, sparse, atol=1e-5), (dense - sparse).abs().max()


def test_the_mask_keeps_each_frames_view_and_time_only():
    n = 2
    mask = dense_grid_mask(V, T, n).reshape(V, T, n, V, T, n)
    assert int(mask[1, 2, 0].sum()) == (V + T - 1) * n
    assert mask[1, 2, 0, 1, 0].all() and mask[1, 2, 0, 0, 2].all() and not mask[1, 2, 0, 0, 1].any()


def test_every_attended_pair_sees_the_frame_offset_the_base_saw(randomize):
    """Same time: the logits of the freeze-time video; same view: those of the fixed-view one."""
    model = _fused(randomize)
    h, w, d = 4, 8, model.cfg.base.head_dim
    n = h * w
    fused_rope = model.rope(V, T, h, w, "cpu")
    gen = torch.Generator().manual_seed(3)
    q, k = torch.randn(2, 1, 1, n, d, generator=gen)  # one frame's content, as query and key

    def logits(rope, frame_q: int, frame_k: int):
        cos, sin = rope
        rows = lambda f: slice(f * n, (f + 1) * n)  # noqa: E731
        rq = apply_rope(q, cos[rows(frame_q)], sin[rows(frame_q)])[0, 0]
        rk = apply_rope(k, cos[rows(frame_k)], sin[rows(frame_k)])[0, 0]
        return rq @ rk.T

    for a in range(V):  # same time t = 2: frames (a, 2), (b, 2) vs the freeze-time video's a, b
        for b in range(V):
            base = logits(rope_3d(V, h, w, d), a, b)
            assert torch.allclose(logits(fused_rope, a * T + 2, b * T + 2), base, atol=1e-4)
    for a in range(T):  # same view v = 1: frames (1, a), (1, b) vs the fixed-view video's a, b
        for b in range(T):
            base = logits(rope_3d(T, h, w, d), a, b)
            assert torch.allclose(logits(fused_rope, T + a, T + b), base, atol=1e-4)


def test_a_grid_scores_the_same_wherever_it_sits_in_the_batch(randomize):
    model = _fused(randomize, depth=2)
    x, s, known = _grid(2)
    with torch.no_grad():
        both = model(x, s, known)
        swapped = model(x.flip(0), s, known.flip(0))
        alone = model(x[1:], s[1:], known[1:])
    assert torch.allclose(both, swapped.flip(0), atol=1e-6)
    assert torch.allclose(both[1:], alone, atol=1e-6)


def test_the_mode_context_starts_as_the_mean_of_freeze_time_and_dynamic():
    torch.manual_seed(0)
    base = DiT(base_preset("tiny"))
    model = build_fourd(fourd_preset("tiny", sync="fused"), base)
    table = base.context_embed.weight
    mean = 0.5 * (table[MODE_INDEX["freeze_time"]] + table[MODE_INDEX["dynamic"]])
    assert torch.allclose(model.fused_context, mean)
    s = torch.tensor([0.3])
    assert torch.allclose(
        model.condition(s),
        0.5 * (base.condition(s, torch.tensor([0])) + base.condition(s, torch.tensor([1]))),
        atol=1e-6,
    )
    assert model.view_embed.abs().sum() == 0 and model.time_embed.abs().sum() == 0


def test_full_finetune_trains_the_base_and_lora_only_its_adapters(randomize):
    full = _fused(randomize)
    assert all(p.requires_grad for p in full.base.parameters())
    cfg = dataclasses.replace(full.cfg, finetune="lora", lora_rank=2)
    lora = FusedModel(copy.deepcopy(full.base), cfg).eval()
    with torch.no_grad():
        for name in ("fused_context", "view_embed", "time_embed"):
            getattr(lora, name).copy_(getattr(full, name))
    trained = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trained and all(
        "lora_" in n or n in {"fused_context", "view_embed", "time_embed"} for n in trained
    )
    count = sum(p.numel() for p in lora.trainable_parameters())
    assert 0 < count < sum(p.numel() for p in full.trainable_parameters()) / 3
    x, s, known = _grid()
    with torch.no_grad():  # LoRA's B starts at zero: the adapters change nothing until trained
        assert torch.allclose(lora(x, s, known), full(x, s, known), atol=1e-6)
    lora(x, s, known).square().mean().backward()
    assert all(p.grad is not None for p in lora.trainable_parameters())
    assert all(p.grad is None for p in lora.parameters() if not p.requires_grad)


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_a_fused_checkpoint_holds_what_it_finetuned_and_references_its_base(
    tmp_path, randomize, finetune
):
    torch.manual_seed(0)
    base = randomize(DiT(base_preset("tiny")), seed=1)
    save_model(tmp_path / "base.safetensors", base, base.cfg)
    cfg = fourd_preset("tiny", sync="fused", finetune=finetune, lora_rank=2)
    model = build_fourd(cfg, copy.deepcopy(base))
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():  # "fine-tuned": every trained tensor moved (LoRA's B off zero too)
        for p in model.trainable_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    from core.io import sha256_file

    ref = {"checkpoint_id": "ck-base", "sha256": sha256_file(tmp_path / "base.safetensors")}
    save_model(tmp_path / "fused.safetensors", model, cfg, base_ref=ref)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "fused.safetensors"), "pt") as f:
        keys = set(f.keys())
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained <= keys
    if finetune == "lora":  # the frozen base weights stay in the base's file
        assert not any(".base_layer." in k for k in keys)
        loaded, _, _ = load_model(
            tmp_path / "fused.safetensors", base_path=tmp_path / "base.safetensors"
        )
    else:  # the whole fine-tuned base is in the file; no base file needed
        assert {f"base.{k}" for k in base.state_dict()} <= keys
        loaded, _, _ = load_model(tmp_path / "fused.safetensors")
    x, s, known = _grid()
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x, s, known), model.eval()(x, s, known))
    assert [n for n, p in loaded.named_parameters() if p.requires_grad] == sorted(
        trained, key=[n for n, _ in model.named_parameters()].index
    )


def test_docs_table_is_the_registry():
    from core.paths import REPO_ROOT

    doc = (REPO_ROOT / "docs/model.md").read_text()
    assert markdown_table() in doc, (
        "regenerate docs/model.md's table: model.variants.markdown_table()"
    )
    assert set(VARIANTS) == set(VARIANT_NAMES)


def test_the_cli_and_the_prefect_form_list_the_registry():
    from typer.testing import CliRunner

    from fourreal.cli import app
    from tasks.train.params import TrainAllParams, TrainSyncParams

    for params in (TrainSyncParams, TrainAllParams):
        schema = params.model_json_schema()
        sync = schema["properties"]["sync"]
        enum = sync.get("enum") or schema["$defs"][sync["$ref"].split("/")[-1]]["enum"]
        assert tuple(enum) == VARIANT_NAMES
    out = CliRunner().invoke(app, ["train", "sync", "--help"], terminal_width=200).output
    assert all(name in out for name in VARIANT_NAMES), out
    bad = CliRunner().invoke(app, ["train", "sync", "ck", "--sync", "interleaved"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
