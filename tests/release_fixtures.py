"""Helpers for the tests of the released-weight converters: random models, the training state the authors' files carry
beside the weights, and the check that a converted model is the one a fixture was made from."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def randomize_batchnorms(model: nn.Module) -> nn.Module:
    """Random scales, shifts, running statistics and step counters, so a wrong mapping of any of them shows."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(int(torch.randint(1, 10_000, ())))
    return model


def adamw_state(state: dict[str, torch.Tensor], groups: Sequence[dict], first_group: int) -> dict:
    """The state dict of an AdamW that took one step over the float tensors of `state` (on copies): the first
    `first_group` tensors in the first parameter group, the rest in the second (`groups` give their settings)."""
    parameters = [nn.Parameter(tensor.clone()) for tensor in state.values() if tensor.is_floating_point()]
    optimizer = torch.optim.AdamW(
        [{"params": parameters[:first_group], **groups[0]}, {"params": parameters[first_group:], **groups[1]}]
    )
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter)
    optimizer.step()
    return optimizer.state_dict()


def assert_same_model(converted: nn.Module, original: nn.Module, outputs: Sequence[str], **inputs) -> None:
    """Every tensor bit-identical, and the named outputs exactly equal on a random image (plus `inputs`)."""
    expected = original.state_dict()
    assert converted.state_dict().keys() == expected.keys()
    for key, tensor in converted.state_dict().items():
        assert tensor.dtype == expected[key].dtype and torch.equal(tensor, expected[key]), key
    pixels = torch.rand(1, 3, 32, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, reference = (model(pixel_values=pixels, **inputs) for model in (converted, original))
    for name in outputs:
        torch.testing.assert_close(getattr(ours, name), getattr(reference, name), rtol=0, atol=0)
