"""The work of a training step (pipeline/training/cost.py): counted on a copy, the same every time,
and it grows with the inner loops a family runs per step."""
from __future__ import annotations

import torch

from pipeline.training.cost import flops_per_step
from pipeline.training.fit import build
from tests.conftest import small, trial


def test_a_step_is_counted_on_a_copy_and_leaves_the_model_and_random_streams_alone():
    ds = small("digits")
    model = build(trial("gan", ds), ds.shape, ds.bounded, torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    expected_draw = torch.rand(1)
    torch.manual_seed(0)
    batch = torch.as_tensor(ds.x["train"][:64])
    first, second = flops_per_step(model, batch), flops_per_step(model, batch)
    assert first == second > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.rand(1), expected_draw)


def test_more_discriminator_steps_cost_more_per_step():
    ds = small("digits")
    batch = torch.as_tensor(ds.x["train"][:64])
    one = flops_per_step(build(trial("gan", ds, disc_steps=1), ds.shape, ds.bounded, torch.device("cpu")), batch)
    two = flops_per_step(build(trial("gan", ds, disc_steps=2), ds.shape, ds.bounded, torch.device("cpu")), batch)
    assert one < two < 2 * one  # the discriminator's steps double, the generator's step does not
