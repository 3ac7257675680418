"""Per-example clipping: every gradient mode against a slow one-example-at-a-time reference.

With noise 0 and SGD at lr 1 on one fixed batch, a DP step moves the weights by
-(1/B) * sum_i g_i * min(1, C / ||g_i||): computed here from B separate backward passes.
"""

from __future__ import annotations

import pytest

C = 0.05  # small enough that every example is clipped, large enough to matter


def tiny_gpt2(seed=0):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=False, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg)


def batch():
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 50, (4, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padded rows must not leak into others' gradients
    mask[3, 5:] = 0
    targets = ids.clone()
    targets[mask == 0] = -100
    return ids, mask, targets


def reference_update(model, tensors):
    import torch

    from evalsuite.privacy.dp_train import forward_logits, sequence_loss_class

    loss_fn = sequence_loss_class()()
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    for i in range(len(tensors[0])):
        one = [t[i:i + 1] for t in tensors]
        grads = torch.autograd.grad(loss_fn(forward_logits(model, one), one[2]), params)
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
        factor = min(1.0, C / (float(norm) + 1e-6))
        for acc, g in zip(total, grads):
            acc += g * factor
    return [-t / len(tensors[0]) for t in total]


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost"])
def test_dp_step_equals_the_per_example_clipping_reference(mode):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from evalsuite.privacy.dp_train import forward_logits, make_private

    tensors = batch()
    expected = reference_update(tiny_gpt2(), tensors)
    model = tiny_gpt2()
    before = [p.detach().clone() for p in model.parameters()]
    loader = DataLoader(TensorDataset(*tensors), batch_size=4)
    module, opt, criterion, loader, _ = make_private(model, torch.optim.SGD(model.parameters(), lr=1.0), loader,
                                                     noise_multiplier=0.0, max_grad_norm=C, mode=mode,
                                                     accountant="rdp", poisson_sampling=False)
    for b in loader:
        opt.zero_grad()
        criterion(forward_logits(module, b), b[2]).backward()
        opt.step()
    inner = getattr(module, "_module", module)
    for p0, p1, want in zip(before, inner.parameters(), expected):
        torch.testing.assert_close(p1.detach() - p0, want, atol=2e-6, rtol=1e-4)


def test_plain_loss_of_an_example_does_not_depend_on_its_batch_mates():
    import torch

    from evalsuite.privacy.dp_train import forward_logits, sequence_loss_class

    model, tensors = tiny_gpt2(), batch()
    loss_fn = sequence_loss_class()("none")
    together = loss_fn(forward_logits(model, tensors), tensors[2])
    alone = torch.stack([loss_fn(forward_logits(model, [t[i:i + 1] for t in tensors]), tensors[2][i:i + 1])[0]
                         for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_auto_mode_avoids_ghost_on_tied_embeddings_and_ghost_unties_them():
    from transformers import GPT2Config, GPT2LMHeadModel

    from evalsuite.privacy.config import DPConfig
    from evalsuite.privacy.dp_train import choose_mode, tied_trainable_parameters, untie_embeddings

    tied = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    assert tied_trainable_parameters(tied)
    assert choose_mode(tied, DPConfig(dp=True)) == "hooks"
    assert choose_mode(tiny_gpt2(), DPConfig(dp=True)) == "ghost"
    assert untie_embeddings(tied) and not tied_trainable_parameters(tied)
    assert tied.lm_head.weight is not tied.transformer.wte.weight
