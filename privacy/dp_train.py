"""DP-SGD fine-tuning through Opacus (and the same loop without DP, for comparison).

Poisson sampling picks each logical batch; `BatchMemoryManager` cuts it into
physical batches; per-example gradients are clipped to `max_grad_norm` and
Gaussian noise is added by Opacus' DP optimizer; the accountant named in the
config (PRV or RDP) tracks epsilon. The per-example loss is the mean token loss
of that one sequence (`SequenceLoss`), so an example's clipped gradient never
depends on the other examples in its batch.

Per-example gradients come from `hooks` (Opacus' per-layer samplers; layers with
none, like GPT-2's `Conv1D`, fall back to functorch inside the hooks module),
`functorch`, or `ghost` clipping (norms only, two backward passes). `auto` picks
ghost unless trainable parameters are shared between layers (tied embeddings),
which ghost clipping refuses; the mode that ran is recorded.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

from evalsuite.errors import UserError
from evalsuite.privacy.config import DPConfig, validate_module


def sequence_loss_class():
    import torch
    import torch.nn.functional as F

    class SequenceLoss(torch.nn.Module):
        """Per-example loss: mean next-token loss of one sequence, or cross-entropy of one label.

        `reduction` is read and set by Opacus' ghost-clipping wrapper ("none" gives one loss per example).
        """

        def __init__(self, reduction: str = "mean"):
            super().__init__()
            self.reduction = reduction

        def forward(self, logits, targets):
            if logits.dim() == 2:  # classifier: one label per example
                per_example = F.cross_entropy(logits, targets, reduction="none")
            else:
                logits, targets = logits[:, :-1], targets[:, 1:]
                per_token = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none", ignore_index=-100)
                counts = (targets != -100).sum(dim=1).clamp(min=1)
                per_example = per_token.sum(dim=1) / counts
            if self.reduction == "none":
                return per_example
            return per_example.sum() if self.reduction == "sum" else per_example.mean()

    return SequenceLoss


def forward_logits(module, batch):
    """Logits for a batch of (input_ids, attention_mask, targets); explicit per-row position ids.

    Opacus' embedding samplers need a batch dimension on every embedding input, and GPT-2 would
    otherwise build position ids of batch size 1 (and non-contiguous ones break ghost clipping).
    """
    import torch

    ids, mask, _ = batch
    kwargs = {"input_ids": ids, "attention_mask": mask}
    if _takes_position_ids(module):
        kwargs["position_ids"] = torch.arange(ids.shape[1], device=ids.device).repeat(ids.shape[0], 1)
    return module(**kwargs).logits


def _takes_position_ids(module) -> bool:
    import inspect

    inner = getattr(module, "_module", module)
    try:
        return "position_ids" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


def tied_trainable_parameters(module) -> list[str]:
    """Names of trainable parameters used by more than one layer (ghost clipping refuses those)."""
    owners: dict[int, list[str]] = {}
    for name, sub in module.named_modules():
        for pname, p in sub.named_parameters(recurse=False):
            if p.requires_grad:
                owners.setdefault(id(p), []).append(f"{name}.{pname}" if name else pname)
    return [names[0] for names in owners.values() if len(names) > 1]


def untie_embeddings(module) -> bool:
    """Give the output head its own copy of the input embedding; True when something was untied."""
    import torch

    out = module.get_output_embeddings() if hasattr(module, "get_output_embeddings") else None
    inp = module.get_input_embeddings() if hasattr(module, "get_input_embeddings") else None
    if out is None or inp is None or out.weight is not inp.weight:
        return False
    out.weight = torch.nn.Parameter(inp.weight.detach().clone())
    module.config.tie_word_embeddings = False
    if hasattr(module, "_tied_weights_keys"):
        module._tied_weights_keys = None  # so save_pretrained keeps both tensors
    return True


def select_trainable(module, cfg: DPConfig) -> tuple[object, str]:
    """Full fine-tuning, the last K blocks, or LoRA adapters; returns (module, description)."""
    if cfg.lora:
        from evalsuite.errors import require

        peft = require("peft", "privacy")
        targets = _lora_targets(module)
        lora = peft.LoraConfig(r=cfg.lora_rank, lora_alpha=2 * cfg.lora_rank, lora_dropout=0.0,
                               target_modules=targets, fan_in_fan_out=_is_conv1d(module, targets))
        return peft.get_peft_model(module, lora), f"lora(r={cfg.lora_rank}, targets={targets})"
    if cfg.train_last_layers is not None:
        blocks = _blocks(module)
        if blocks is None:
            raise UserError("--train-last-layers needs a model with a list of transformer blocks; use --lora")
        if cfg.train_last_layers > len(blocks):
            raise UserError(f"--train-last-layers {cfg.train_last_layers} exceeds the model's {len(blocks)} blocks")
        for p in module.parameters():
            p.requires_grad_(False)
        keep = list(blocks[-cfg.train_last_layers:])
        head = module.get_output_embeddings() if hasattr(module, "get_output_embeddings") else None
        if head is not None and head.weight is not module.get_input_embeddings().weight:
            keep.append(head)
        for sub in keep:
            for p in sub.parameters():
                p.requires_grad_(True)
        return module, f"last {cfg.train_last_layers} of {len(blocks)} blocks"
    return module, "full"


def _blocks(module):
    import torch

    for sub in module.modules():
        for name in ("h", "layers", "layer", "blocks"):
            child = getattr(sub, name, None)
            if isinstance(child, torch.nn.ModuleList) and len(child):
                return child
    return None


def _lora_targets(module) -> list[str]:
    names = {n.rsplit(".", 1)[-1] for n, _ in module.named_modules()}
    for group in (["c_attn"], ["q_proj", "v_proj"], ["query", "value"], ["q_lin", "v_lin"]):
        if all(g in names for g in group):
            return group
    raise UserError("no known attention projections for LoRA in this model; use --train-last-layers")


def _is_conv1d(module, targets) -> bool:
    return any(type(m).__name__ == "Conv1D" for n, m in module.named_modules() if n.rsplit(".", 1)[-1] in targets)


def choose_mode(module, cfg: DPConfig) -> str:
    if cfg.grad_sample_mode != "auto":
        return cfg.grad_sample_mode
    return "hooks" if tied_trainable_parameters(module) else "ghost"


def make_private(module, optimizer, loader, *, noise_multiplier: float, max_grad_norm: float, mode: str,
                 accountant: str, poisson_sampling: bool = True):
    """Opacus' make_private with the criterion ghost clipping needs; returns (module, opt, criterion, loader, engine)."""
    from opacus import PrivacyEngine

    criterion = sequence_loss_class()()
    engine = PrivacyEngine(accountant=accountant)
    out = engine.make_private(module=module, optimizer=optimizer, data_loader=loader, criterion=criterion,
                              noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
                              grad_sample_mode=mode, poisson_sampling=poisson_sampling)
    if mode == "ghost":  # the wrapped criterion runs the two backward passes; the plain one would not clip
        module, optimizer, criterion, loader = out
    else:
        module, optimizer, loader = out
    return module, optimizer, criterion, loader, engine


@dataclass
class TrainResult:
    module: object  # the trained torch module (unwrapped from Opacus; LoRA merged)
    privacy: dict
    epoch_losses: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0


def train(module, tensors, cfg: DPConfig, *, echo=print) -> TrainResult:
    """Fine-tune `module` in place on `tensors` (input_ids, attention_mask, targets) as `cfg` says."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from evalsuite.privacy.accounting import noise_for_epsilon, steps_for

    torch.manual_seed(cfg.seed)
    module.train()
    module, trainable = select_trainable(module, cfg)
    mode = choose_mode(module, cfg) if cfg.dp else "none"
    untied = mode == "ghost" and bool(tied_trainable_parameters(module)) and untie_embeddings(module)
    if cfg.dp:
        validate_module(module)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    n = len(tensors[0])
    loader = DataLoader(TensorDataset(*tensors), batch_size=cfg.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    sample_rate = 1 / len(loader)  # what Opacus' Poisson loader uses
    steps = steps_for(cfg.epochs, sample_rate)
    privacy = {"dp": cfg.dp, "grad_sample_mode": mode, "trainable": trainable, "seed": cfg.seed,
               "n_train_examples": n, "untied_embeddings": untied}
    engine = None
    if cfg.dp:
        sigma = cfg.noise_multiplier if cfg.noise_multiplier is not None else noise_for_epsilon(
            cfg.target_epsilon, cfg.delta, sample_rate, steps, cfg.accountant)
        module, optimizer, criterion, loader, engine = make_private(
            module, optimizer, loader, noise_multiplier=sigma, max_grad_norm=cfg.max_grad_norm, mode=mode,
            accountant=cfg.accountant)
        privacy.update(accountant=cfg.accountant, noise_multiplier=sigma, sample_rate=sample_rate,
                       max_grad_norm=cfg.max_grad_norm, delta=cfg.delta, target_epsilon=cfg.target_epsilon)
    else:
        criterion = sequence_loss_class()()
    t0 = time.perf_counter()
    losses = []
    for epoch in range(cfg.epochs):
        losses.append(_epoch(module, optimizer, criterion, loader, cfg, engine, privacy))
        if epoch == 0 or epoch + 1 == cfg.epochs or (epoch + 1) % 10 == 0:
            echo(f"[finetune] epoch {epoch + 1}/{cfg.epochs} loss {losses[-1]:.4f}")
    if engine is not None:
        privacy["steps"] = sum(s for _, _, s in engine.accountant.history)
        privacy["epsilon"] = float(engine.accountant.get_epsilon(delta=cfg.delta))
    module = getattr(module, "_module", module)
    if cfg.lora:
        module = module.merge_and_unload()
    module.eval()
    return TrainResult(module, privacy, losses, round(time.perf_counter() - t0, 3))


def _epoch(module, optimizer, criterion, loader, cfg: DPConfig, engine, privacy) -> float:
    total, count = 0.0, 0
    if engine is not None:
        from opacus.utils.batch_memory_manager import BatchMemoryManager

        batches = BatchMemoryManager(data_loader=loader, max_physical_batch_size=cfg.max_physical_batch_size,
                                     optimizer=optimizer)
    else:
        batches = nullcontext(loader)
    with batches as stream:
        for batch in stream:
            size = len(batch[0])
            if size == 0:
                # An empty Poisson batch still spends privacy: count the step the optimizer skips.
                engine.accountant.step(noise_multiplier=privacy["noise_multiplier"],
                                       sample_rate=privacy["sample_rate"])
                continue
            if engine is not None:
                optimizer.zero_grad(set_to_none=True)
                loss = criterion(forward_logits(module, batch), batch[2])
                loss.backward()
                optimizer.step()
                value = float(loss.item() if hasattr(loss, "item") else loss)
            else:
                value = _plain_step(module, optimizer, criterion, batch, cfg.max_physical_batch_size)
            total, count = total + value * size, count + size
    return total / max(count, 1)


def _plain_step(module, optimizer, criterion, batch, physical: int) -> float:
    """One non-private step on a logical batch, accumulated over physical chunks of the same size as DP's."""
    optimizer.zero_grad(set_to_none=True)
    size, total = len(batch[0]), 0.0
    for start in range(0, size, physical):
        chunk = [t[start:start + physical] for t in batch]
        loss = criterion(forward_logits(module, chunk), chunk[2]) * (len(chunk[0]) / size)
        loss.backward()
        total += float(loss.item())
    optimizer.step()
    return total
