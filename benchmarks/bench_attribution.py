"""Attribution throughput: LayerIntegratedGradients (50 steps) against 50 forward+backward passes per sample.

    python benchmarks/bench_attribution.py                 # the demo model, 16 demo-world fact questions
    python benchmarks/bench_attribution.py --gpt2-small    # a randomly initialised GPT-2-small-shaped model

The bound is the work IG cannot avoid: 50 forward and backward passes per
sample through the same model, on the same inputs, with the same batch (the
50 interpolation steps in one batch of `--batch` rows), on the same device.
Prints samples/s for both and their ratio (1.0 = no overhead over the bound).
"""

from __future__ import annotations

import argparse
import json
import time


def build_model(gpt2_small: bool, device):
    from evalsuite.demo import WEIGHTS_DIR
    from evalsuite.models.hf import HFCausalLM

    adapter = HFCausalLM(str(WEIGHTS_DIR), name="demo", progress=False, device=str(device))
    if not gpt2_small:
        return adapter.module, adapter.tokenizer, "demo (4 layers, 128 wide, 1.0M parameters)"
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(adapter.tokenizer), n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                        bos_token_id=0, eos_token_id=0)
    module = GPT2LMHeadModel(config).to(device).eval()  # demo tokenizer; GPT-2-small's shape and cost
    n = sum(p.numel() for p in module.parameters())
    return module, adapter.tokenizer, f"GPT-2-small-shaped random init (12 layers, 768 wide, {n / 1e6:.0f}M)"


def main() -> None:
    import torch

    from evalsuite.audits.explain.captum_text import IntegratedGradientsExplainer
    from evalsuite.audits.explain.objectives import TextObjective
    from evalsuite.task_types import load_records
    from evalsuite.tasks import DATA

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16, help="samples")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=50, help="internal batch (interpolation steps per forward)")
    ap.add_argument("--gpt2-small", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    module, tokenizer, description = build_model(args.gpt2_small, device)
    # The token budget makes the internal batch exactly --batch rows for these inputs.
    docs = load_records(DATA / "demo_facts_gen.jsonl")[: args.n]
    objective = TextObjective(module, tokenizer, kind="lm", device=device, token_budget=1)
    examples = [objective.lm_example(d["prompt"], " " + d["answer"]) for d in docs]
    objective.batch_size = lambda ex: args.batch
    explainer = IntegratedGradientsExplainer(steps=args.steps, layer=True)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def attribute_all():
        for ex in examples:
            explainer.explain_text(objective, ex)

    def bound_all():
        # steps forward+backward passes per sample, through the embedding layer, in batches of --batch.
        # Gradients w.r.t. the embeddings only, as IG needs: no weight gradients (a .backward() would
        # also compute those, which IG never does, and make the bound slower than IG itself).
        for ex in examples:
            ids = torch.tensor([ex.ids], device=device)
            for start in range(0, args.steps, args.batch):
                rows = min(args.batch, args.steps - start)
                embeds = objective.embedding_layer(ids.expand(rows, -1)).detach().requires_grad_(True)
                torch.autograd.grad(objective.forward_embeds(embeds, ex).sum(), embeds)

    results = {}
    for name, fn in (("bound", bound_all), ("layer_ig", attribute_all)):
        fn() if name == "bound" else explainer.explain_text(objective, examples[0])  # warm-up
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        results[name] = args.n / (time.perf_counter() - t0)
    mean_tokens = sum(len(e.ids) for e in examples) / len(examples)
    report = {"model": description, "device": str(device), "threads": torch.get_num_threads(), "samples": args.n,
              "mean_tokens": round(mean_tokens, 1), "steps": args.steps, "internal_batch": args.batch,
              "layer_ig_samples_per_s": round(results["layer_ig"], 3),
              "bound_samples_per_s": round(results["bound"], 3),
              "ratio": round(results["layer_ig"] / results["bound"], 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
