"""The `privacy_audit` task: membership inference, canary exposure and an empirical epsilon bound.

    evalsuite run --model CHECKPOINT --tasks privacy_audit

The checkpoint is a folder from `evalsuite finetune`; its training.json says which
examples were trained on (members) and held out (non-members), which canaries were
planted and which base model it started from (the reference for the calibrated
attack). The reference is built through the model factory on the audited model's
device; a base model that would load a pickle (sklearn:, torch:, any adapter with an
allow_pickle option) is refused, so a checkpoint can never make the audit unpickle a
file. Options: see `evalsuite describe privacy_audit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from evalsuite.errors import UserError
from evalsuite.jobs import Job, JobContext, JobOutcome
from evalsuite.options import Option
from evalsuite.registry import task

BASE, NO_REFERENCE = "base", "none"
DEFAULT_AUDIT_DELTA = 1e-5  # the delta of a non-private run's bound: dp_finetune_audit's default
Reference = Annotated[str, Option("reference model of the calibrated attack: 'base' (the checkpoint's base model), "
                                  "'none', or a model spec")]
CanaryCandidates = Annotated[int, Option("random secrets each canary is ranked among", min=1, max=10**7)]


@dataclass
class AuditData:
    """What the attacks need: the privacy claim, the training record, members, non-members, canaries."""

    privacy: dict
    training: dict
    members: list[str]
    nonmembers: list[str]
    canaries: list[str]
    data_hash: str
    audit_canaries: list[str] = field(default_factory=list)  # the one-run audit's canaries, in or out
    audit_included: list[bool] = field(default_factory=list)  # each one's coin: was it trained on?
    audit_delta: float | None = None  # the delta of a non-private run's bound (default DEFAULT_AUDIT_DELTA)


def data_from_checkpoint(folder) -> AuditData:
    from evalsuite.privacy.checkpoint import read_checkpoint_info
    from evalsuite.privacy.data import reload_data

    privacy, training = read_checkpoint_info(folder)
    manifest = training.get("data")
    if not isinstance(manifest, dict) or "source" not in manifest:
        raise UserError(f"'{folder}/training.json' has no data manifest; pass members_file/nonmembers_file")
    data = reload_data(manifest, folder)
    return AuditData(privacy, training, [data.texts[i] for i in data.member_indices],
                     [data.texts[i] for i in data.nonmember_indices], data.canaries, manifest["data_sha256"],
                     data.audit_canaries, data.audit_included)


def data_from_files(members_file: str, nonmembers_file: str, folder=None) -> AuditData:
    from evalsuite.fingerprint import sha256_json
    from evalsuite.task_types import load_records

    texts = []
    for path in (members_file, nonmembers_file):
        rows = load_records(path)
        if any(not isinstance(r, dict) or "text" not in r for r in rows):
            raise UserError(f"'{path}' needs a 'text' field on every row")
        texts.append([str(r["text"]) for r in rows])
    info = _optional_info(folder)
    privacy, training = info if info else ({"dp": False}, {})
    return AuditData(privacy, training, texts[0], texts[1], [], sha256_json(texts))


def _optional_info(folder):
    from evalsuite.privacy.checkpoint import read_checkpoint_info

    try:
        return read_checkpoint_info(folder) if folder else None
    except UserError:
        return None


def reference_problem(spec: str, origin: str) -> str | None:
    """Why `spec` cannot be the reference model (None when it can); nothing is loaded."""
    from evalsuite.models.factory import resolve_model_spec
    from evalsuite.options import declared_options
    from evalsuite.registry import REGISTRY

    refusal = (f"{origin} '{spec}' would unpickle a file to build the reference model, which runs code from it; "
               "the reference must be a language model folder (pass reference_model=SPEC or none)")
    if not isinstance(spec, str) or not spec.strip():
        return f"{origin} must be a model spec, got {spec!r}"
    if spec.split(":", 1)[0].strip().lower() in ("sklearn", "torch", "predictions") and ":" in spec:
        return refusal
    try:
        resolved = resolve_model_spec(spec)
    except UserError as exc:
        return f"{origin}: {exc}"
    entry = REGISTRY.get("model", resolved.adapter)
    if entry.short_name in ("sklearn", "torch", "predictions") or \
            "allow_pickle" in declared_options(entry.obj, skip=("spec",)):
        return refusal
    return None


def build_reference(spec: str, target, origin: str):
    """The reference model, through the model factory, on the audited model's device and dtype."""
    from evalsuite.models.factory import load_model
    from evalsuite.privacy.finetune import run_model_options

    problem = reference_problem(spec, origin)
    if problem:
        raise UserError(problem)
    return load_model(spec, **run_model_options(target))


@task("privacy_audit")
def privacy_audit(
        checkpoint: Annotated[str | None, Option("checkpoint folder from evalsuite finetune (default: the model's "
                                                 "own folder)")] = None,
        reference_model: Reference = BASE, n_canary_candidates: CanaryCandidates = 1000,
        members_file: Annotated[str | None, Option("JSONL of member texts (a 'text' field), instead of the "
                                                   "checkpoint's training.json")] = None,
        nonmembers_file: Annotated[str | None, Option("JSONL of non-member texts, with members_file")] = None) -> Job:
    """Membership inference (loss and reference attacks), canary exposure, empirical epsilon lower bound."""
    problems = []
    if bool(members_file) != bool(nonmembers_file):
        problems.append("give both members_file and nonmembers_file, or neither")
    if checkpoint is not None and not Path(checkpoint).is_dir():
        problems.append(f"checkpoint '{checkpoint}' is not a folder; pass a checkpoint from `evalsuite finetune`")
    if reference_model not in (BASE, NO_REFERENCE):
        problems.append(reference_problem(reference_model, "reference_model"))
    problems = [p for p in problems if p]
    if problems:
        raise UserError("; ".join(problems))
    state: dict = {}

    def gather(folder) -> AuditData:
        if members_file:
            return data_from_files(members_file, nonmembers_file, folder)
        if folder is None:
            raise UserError("privacy_audit needs a checkpoint folder from `evalsuite finetune` (option checkpoint)")
        return data_from_checkpoint(folder)

    if checkpoint is not None or members_file:  # the data is checked now, before the model loads
        state["data"] = gather(checkpoint)

    def check(model) -> None:
        if "data" not in state:
            state["data"] = gather(getattr(model, "folder", None))
        data = state["data"]
        spec = data.training.get("base_model") if reference_model == BASE else reference_model
        if reference_model == BASE and spec:
            problem = reference_problem(str(spec), "the checkpoint's base_model")
            if problem:
                raise UserError(problem)
        state["reference"] = spec if spec and spec != NO_REFERENCE else None

    def run(model, ctx):
        if "reference" not in state:
            check(model)
        spec = state["reference"]
        reference = None
        if spec:
            ctx.echo(f"[privacy_audit] reference model {spec}")
            reference = build_reference(str(spec), model, "reference_model")
        return run_audit(model, ctx, state["data"], reference=reference, reference_spec=spec,
                         n_canary_candidates=n_canary_candidates)

    return Job(run=run, category="privacy", requires=("loglikelihood_rolling", "loglikelihood"),
                      description="privacy audit of a fine-tuned checkpoint", name="privacy_audit", check=check)


def run_audit(model, ctx: JobContext, data: AuditData, *, reference=None, reference_spec: str | None = None,
              n_canary_candidates: int = 1000) -> JobOutcome:
    """Attack `model` (the fine-tuned one); `reference`, when given, is the model the calibrated attack compares to."""
    import numpy as np

    from evalsuite.privacy.audit_bounds import compute_bounds, power_verdict
    from evalsuite.privacy.canaries import CHANCE_EXPOSURE_BITS, canary_exposures
    from evalsuite.privacy.mia import attack_metrics, example_losses
    from evalsuite.privacy.plot import plot_roc
    from evalsuite.records import metric_entry
    from evalsuite.stats import BOOTSTRAP_METHOD, bootstrap_ci
    from evalsuite.task_types import HIGHER, LOWER

    privacy, members, nonmembers = data.privacy, data.members, data.nonmembers
    canaries, data_hash = data.canaries, data.data_hash
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
    if reference is not None:
        ref_loss = example_losses(reference, texts)
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

    # Non-private runs claim nothing; their bound is stated at the delta private runs default to.
    audit_delta = float(delta) if dp else float(data.audit_delta or DEFAULT_AUDIT_DELTA)
    canary_attacks = audit_canary_attacks(model, reference, data.audit_canaries)
    bounds = compute_bounds(attacks, is_member, canary_attacks, data.audit_included, delta=audit_delta, seed=ctx.seed)
    power = power_verdict(bounds, float(eps) if dp else None, len(data.audit_canaries))
    strongest, eps_lb = bounds["strongest"], bounds["epsilon_lower_bound"]
    n_scored = len(texts) + len(data.audit_canaries)
    metrics["empirical_epsilon_lower_bound"] = metric_entry(float(eps_lb), LOWER.to_json(), None,
                                                            f"{strongest.split('/')[0]}:95%", n_scored)
    # The audit's power: what a perfect attack would certify with these tests (a bound of 0 next to a small
    # one says the audit could not have shown anything).
    metrics["empirical_epsilon_max_certifiable"] = metric_entry(power["max_certifiable"], HIGHER.to_json(), None,
                                                                "perfect attack, same tests", n_scored)
    metrics["audit_vacuous"] = metric_entry(float(power["vacuous"]), LOWER.to_json(), None, "bound == 0", n_scored)
    ctx.echo(f"[privacy_audit] {power['verdict']}")
    violation = None
    if dp:
        violated = eps_lb > float(eps)
        metrics["dp_bound_violated"] = metric_entry(float(violated), LOWER.to_json(), None, "threshold", n_scored)
        if violated:
            violation = (f"PRIVACY BOUND VIOLATED: the {strongest} test proves epsilon >= {eps_lb:.3f} with 95% "
                         f"confidence, above the claimed epsilon {float(eps):.3f} ({privacy.get('accountant')}); "
                         "the training or its accounting is not what the checkpoint says")
            ctx.echo(f"[privacy_audit] {violation}")

    canary_rows = []
    if canaries:
        canary_rows = canary_exposures(model, canaries, n_candidates=n_canary_candidates,
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
               "empirical_epsilon": {"strongest_test": strongest, "delta_used": audit_delta,
                                     "confidence": bounds["confidence"], "tests": bounds["tests"]},
               "audit_power": power,
               "audit_canaries": {"m": len(data.audit_canaries), "n_in": int(sum(data.audit_included)),
                                  "scores": {k: [float(x) for x in v] for k, v in canary_attacks.items()}},
               "canaries": {"rows": canary_rows, "chance_exposure_bits": CHANCE_EXPOSURE_BITS},
               "violation": violation}
    return JobOutcome(metrics=metrics, samples=samples, data_hash=data_hash, artifacts={"roc_plot": "roc.png"},
                      details=details, headline="epsilon" if "epsilon" in metrics else "empirical_epsilon_lower_bound")


def audit_canary_attacks(model, reference, audit_canaries: list[str]) -> dict:
    """Attack scores of the audit canaries (higher = more likely trained on): -loss under the target, and
    reference loss - target loss when there is a reference (the same attacks as on the data)."""
    from evalsuite.privacy.mia import example_losses

    if not audit_canaries:
        return {}
    target = example_losses(model, audit_canaries)
    attacks = {"loss": -target}
    if reference is not None:
        attacks["reference"] = example_losses(reference, audit_canaries) - target
    return attacks
