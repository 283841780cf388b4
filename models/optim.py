"""Adam for the zoo's small players: PyTorch's fused Adam, stepped without its per-call bookkeeping.

`torch.optim.Adam(fused=True)` updates all of a player's tensors in one kernel, but each `step()`
first spends about 55 microseconds in Python (hooks, profiler scopes, grouping the tensors by
device and dtype) for a kernel of about 10 on these nets. A PM step makes six optimiser steps, so
that bookkeeping was a sixth of it (benchmarks/commit_speed.py). `Adam.step` below calls the same
kernel with the same arguments and keeps the same state, so a player trains bit for bit as under
`torch.optim.Adam(fused=True)`, and checkpoints load in either (tests/test_models.py holds both).
Anything the short path does not cover falls back to PyTorch's own step.
"""
from __future__ import annotations

import torch


class Adam(torch.optim.Adam):
    """torch.optim.Adam(fused=True) with a direct step for the case the zoo uses: one parameter
    group of tensors on one device, a float learning rate, no weight decay, AMSGrad or closure."""

    def __init__(self, params, lr: float, betas: tuple[float, float]):
        super().__init__(params, lr=lr, betas=betas, fused=True)

    def _direct(self) -> bool:
        if len(self.param_groups) != 1:
            return False
        group = self.param_groups[0]
        return (not isinstance(group["lr"], torch.Tensor) and not group["weight_decay"] and not group["amsgrad"]
                and not group["maximize"] and not group["capturable"] and not group["differentiable"]
                and not group["decoupled_weight_decay"] and len({p.device for p in group["params"]}) == 1)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None or not self._direct():
            return super().step(closure)
        group = self.param_groups[0]
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:  # not in this loss (PM's decoder under the 1992 objective): left as it is
                continue
            state = self.state[p]
            if not state:  # as torch.optim.Adam initialises it for the fused kernel
                state["step"] = torch.tensor(0.0, dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        if params:
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                               beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False)
        return None
