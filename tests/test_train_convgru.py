"""The visual-memory ConvGRU cell (paper §4.3)."""

from __future__ import annotations

import torch

from rgmp.model.convgru import ConvGRU


def test_fresh_memory_is_the_identity_and_learns() -> None:
    torch.manual_seed(0)
    cell = ConvGRU(8)
    x = torch.randn(2, 8, 5, 7)
    out, hidden = cell(x)
    assert torch.equal(out, x) and torch.equal(hidden, torch.zeros_like(x))
    out.pow(2).sum().backward()
    assert cell.candidate.weight.grad.abs().sum() > 0


def test_state_carries_over_steps_and_gradients_flow_back() -> None:
    torch.manual_seed(0)
    cell = ConvGRU(4)
    torch.nn.init.normal_(cell.candidate.weight, std=0.3)
    first = torch.randn(1, 4, 6, 6, requires_grad=True)
    _, hidden = cell(first)
    out, hidden2 = cell(torch.zeros(1, 4, 6, 6), hidden)
    assert hidden2.shape == (1, 4, 6, 6) and out.abs().sum() > 0  # the zero input still sees the memory
    out.sum().backward()
    assert first.grad.abs().sum() > 0
