"""The `privacy_audit` task: membership inference, canary exposure and an empirical epsilon bound.

    evalsuite run --model CHECKPOINT --tasks privacy_audit

The checkpoint is a folder from `evalsuite finetune`; its training.json says which
examples were trained on (members) and held out (non-members), which canaries were
planted and which base model it started from (the reference for the calibrated
attack). Options (`RunConfig.job_options`): checkpoint (a folder, when the model is
not one), reference_model (a model spec, or "none"), n_canary_candidates (1000),
members_file / nonmembers_file (JSONL with a "text" field, instead of training.json).
"""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.jobs import Job, JobContext, JobOutcome
from evalsuite.registry import task


@task("privacy_audit")
def privacy_audit() -> Job:
    """Membership inference (loss and reference attacks), canary exposure, empirical epsilon lower bound."""
    return Job(run=run_audit, category="privacy", requires=("loglikelihood_rolling", "loglikelihood"),
               description="privacy audit of a fine-tuned checkpoint", name="privacy_audit")


def _audit_inputs(model, ctx: JobContext):
    """(privacy, training, members, nonmembers, canaries, data_hash) for the model under audit."""
    from evalsuite.fingerprint import sha256_json
    from evalsuite.privacy.checkpoint import read_checkpoint_info
    from evalsuite.privacy.data import reload_data

    opts = ctx.options
    if opts.get("members_file") or opts.get("nonmembers_file"):
        from evalsuite.task_types import load_records

        if not (opts.get("members_file") and opts.get("nonmembers_file")):
            raise UserError("give both members_file and nonmembers_file")
        members = [str(r["text"]) for r in load_records(opts["members_file"])]
        nonmembers = [str(r["text"]) for r in load_records(opts["nonmembers_file"])]
        folder = opts.get("checkpoint") or getattr(model, "folder", None)
        info = _optional_info(folder)
        privacy, training = info if info else ({"dp": False}, {})
        return privacy, training, members, nonmembers, list(opts.get("canaries", [])), sha256_json(
            [members, nonmembers])
    folder = opts.get("checkpoint") or getattr(model, "folder", None)
    if folder is None:
        raise UserError("privacy_audit needs a checkpoint folder from `evalsuite finetune` (option checkpoint)")
    privacy, training = read_checkpoint_info(folder)
    data = reload_data(training["data"])
    members = [data.texts[i] for i in data.member_indices]
    nonmembers = [data.texts[i] for i in data.nonmember_indices]
    return privacy, training, members, nonmembers, data.canaries, training["data"]["data_sha256"]


def _optional_info(folder):
    from evalsuite.privacy.checkpoint import read_checkpoint_info

    try:
        return read_checkpoint_info(folder) if folder else None
    except UserError:
        return None


def run_audit(model, ctx: JobContext) -> JobOutcome:
    import numpy as np

    from evalsuite.privacy.canaries import CHANCE_EXPOSURE_BITS, canary_exposures
    from evalsuite.privacy.empirical_eps import empirical_epsilon
    from evalsuite.privacy.mia import attack_metrics, example_losses
    from evalsuite.privacy.plot import plot_roc
    from evalsuite.records import metric_entry
    from evalsuite.stats import BOOTSTRAP_METHOD, bootstrap_ci
    from evalsuite.task_types import LOWER

    privacy, training, members, nonmembers, canaries, data_hash = _audit_inputs(model, ctx)
    if ctx.limit:
        members, nonmembers = members[: ctx.limit], nonmembers[: ctx.limit]
    if len(members) < 2 or len(nonmembers) < 2:
        raise UserError(f"privacy_audit needs >= 2 members and >= 2 non-members, got {len(members)} and "
                        f"{len(nonmembers)}; fine-tune with --audit-holdout (e.g. 0.5)")
    texts = members + nonmembers
    is_member = np.array([1] * len(members) + [0] * len(nonmembers))
    target_loss = example_losses(model, texts)
    attacks = {"loss": -target_loss}
    ref_loss = None
    reference_spec = ctx.options.get("reference_model", training.get("base_model"))
    if reference_spec and reference_spec != "none":
        from evalsuite.runner import resolve_model

        ctx.echo(f"[privacy_audit] reference model {reference_spec}")
        ref_loss = example_losses(resolve_model(str(reference_spec), {"progress": False}), texts)
        attacks["reference"] = ref_loss - target_loss

    dp = bool(privacy.get("dp"))
    eps, delta = privacy.get("epsilon"), privacy.get("delta")
    metrics, notes = {}, {}
    if dp:
        acc = privacy.get("accountant", "unknown")
        metrics["epsilon"] = metric_entry(float(eps), LOWER.to_json(), None, f"accountant:{acc}", 1)
        metrics["delta"] = metric_entry(float(delta), LOWER.to_json(), None, f"accountant:{acc}", 1)
    for name, scores in attacks.items():
        got, why = attack_metrics(scores, is_member, prefix="mia_" if name == "loss" else "mia_ref_",
                                  n_resamples=ctx.bootstrap_resamples, seed=ctx.seed)
        metrics.update(got)
        notes.update({f"{name}:{k}": v for k, v in why.items()})

    # Each attack's bound holds at 1 - 0.05/len(attacks), so the larger of them holds at 95% (Bonferroni).
    audit_delta = float(delta) if dp else 1 / (10 * len(texts))
    bounds = {name: empirical_epsilon(s, is_member, audit_delta, confidence=1 - 0.05 / len(attacks),
                                      seed=ctx.seed) for name, s in attacks.items()}
    strongest = max(bounds, key=lambda k: bounds[k]["epsilon_lower_bound"])
    eps_lb = bounds[strongest]["epsilon_lower_bound"]
    metrics["empirical_epsilon_lower_bound"] = metric_entry(float(eps_lb), LOWER.to_json(), None, "clopper-pearson:95%",
                                                            len(texts))
    violation = None
    if dp:
        violated = eps_lb > float(eps)
        metrics["dp_bound_violated"] = metric_entry(float(violated), LOWER.to_json(), None, "threshold", len(texts))
        if violated:
            violation = (f"PRIVACY BOUND VIOLATED: the {strongest} attack proves epsilon >= {eps_lb:.3f} with 95% "
                         f"confidence, above the claimed epsilon {float(eps):.3f} ({privacy.get('accountant')}); "
                         "the training or its accounting is not what the checkpoint says")
            ctx.echo(f"[privacy_audit] {violation}")

    canary_rows = []
    if canaries:
        canary_rows = canary_exposures(model, canaries, n_candidates=int(ctx.options.get("n_canary_candidates", 1000)),
                                       seed=ctx.seed)
        values = np.array([r["exposure_bits"] for r in canary_rows])
        ci = bootstrap_ci({"x": values}, lambda c: c["x"].mean(axis=-1), n_resamples=ctx.bootstrap_resamples,
                          seed=ctx.seed) if len(values) > 1 else None
        metrics["canary_exposure"] = metric_entry(float(values.mean()), LOWER.to_json(), ci, BOOTSTRAP_METHOD,
                                                  len(values))

    ctx.artifacts_dir.mkdir(parents=True, exist_ok=True)
    plot_roc(Path(ctx.artifacts_dir) / "roc.png", {k: (v, is_member) for k, v in attacks.items()},
             float(eps) if dp else None, float(delta) if dp else None)
    samples = [{"doc_id": i, "member": int(is_member[i]),
                "scores": {"target_loss": float(target_loss[i]), "loss_attack": float(attacks["loss"][i]),
                           **({"reference_loss": float(ref_loss[i]), "reference_attack": float(attacks["reference"][i])}
                              if ref_loss is not None else {})}}
               for i in range(len(texts))]
    details = {"privacy": privacy if dp else {**privacy, "dp": False},
               "mia": {"n_members": len(members), "n_nonmembers": len(nonmembers), "notes": notes,
                       "reference_model": reference_spec if ref_loss is not None else None},
               "empirical_epsilon": {"strongest_attack": strongest, "delta_used": audit_delta, **bounds},
               "canaries": {"rows": canary_rows, "chance_exposure_bits": CHANCE_EXPOSURE_BITS},
               "violation": violation}
    return JobOutcome(metrics=metrics, samples=samples, data_hash=data_hash, artifacts={"roc_plot": "roc.png"},
                      details=details)
