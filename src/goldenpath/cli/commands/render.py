"""``platform render``: the Kubernetes objects a service becomes in an environment.

A thin edge over ``POST /api/deploy/v1/render``: the local ``platform.yaml`` / ``score.yaml``
is sent as text (nothing is built or recorded) and the server renders and validates it for
the environment's settings (docs/kubernetes.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from goldenpath.cli import context, output
from goldenpath.cli.commands import _deploy_local
from goldenpath.cli.commands._deploy_view import DEPLOY
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["SpecFileOption", "diff", "render"]

SpecFileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Workload file (default: ./platform.yaml or score.yaml)."),
]


def _file_name(obj: dict[str, Any]) -> str:
    kind = str(obj.get("kind", "object")).lower()
    name = str((obj.get("metadata") or {}).get("name", "unnamed"))
    return f"{kind}-{name}.yaml"


def _write(out: Path, objects: list[dict[str, Any]]) -> list[Path]:
    """One file per object plus a ``kustomization.yaml`` listing them; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for obj in objects:
        path = out / _file_name(obj)
        path.write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [p.name for p in written],
    }
    (out / "kustomization.yaml").write_text(
        yaml.safe_dump(kustomization, sort_keys=False), encoding="utf-8"
    )
    return written


def render(
    file: SpecFileOption = None,
    env: Annotated[str, typer.Option("--env", "-e", help="Environment to render for.")] = "dev",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write one file per object and a kustomization.yaml here."),
    ] = None,
    fmt: OutputOption = OutputFormat.yaml,
) -> None:
    """Render the service's Kubernetes objects for ENV and validate them: Deployment or
    Argo Rollout, Service, Ingress with TLS, HPA, PDB, NetworkPolicy, ServiceAccount,
    monitoring and database objects. Prints them as multi-document YAML (-o json: {service,
    environment, objects, errors}); --out DIR writes one file per object and a
    kustomization.yaml. Validation errors go to stderr and exit 1.

    Examples:

      platform render --env production

      platform render -f services/api/score.yaml --env staging --out deploy/staging
    """
    spec = _deploy_local.find_spec(file)
    body = {"environment": env, "spec": spec.read_text(encoding="utf-8"), "specPath": spec.name}
    with context.api_client() as client:
        result = client.post(f"{DEPLOY}/render", body)
    objects: list[dict[str, Any]] = result.get("objects") or []
    if out is not None:
        written = _write(out, objects)
        output.stderr().print(f"wrote {len(written)} objects to {out}", markup=False)
    elif fmt is OutputFormat.yaml or fmt is OutputFormat.table:
        typer.echo(yaml.safe_dump_all(objects, sort_keys=False), nl=False)
    else:
        output.emit(result, fmt)
    errors = result.get("errors") or []
    for error in errors:
        output.stderr().print(f"invalid: {error}", markup=False)
    if errors:
        raise typer.Exit(1)


def diff(
    file: SpecFileOption = None,
    env: Annotated[
        str, typer.Option("--env", "-e", help="A kubernetes environment.")
    ] = "production",
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when a deploy would change something.")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Show what `platform deploy --env ENV` would change in the kubernetes environment's
    GitOps repository, object by object (unified diffs; -o json: {changes: [{kind, name,
    change, diff}]}). Exit 1 for an invalid render or a local environment, and with
    --exit-code when something would change (like `git diff --exit-code`).

    Example:

      platform diff --env production
    """
    spec = _deploy_local.find_spec(file)
    body = {"environment": env, "spec": spec.read_text(encoding="utf-8"), "specPath": spec.name}
    with context.api_client() as client:
        result = client.post(f"{DEPLOY}/diff", body)
    changes: list[dict[str, Any]] = result.get("changes") or []
    if fmt is OutputFormat.table:
        if not changes:
            typer.echo(f"no changes: {env} already holds this render")
        for change in changes:
            typer.echo(f"{change['change']}: {change['kind']}/{change['name']}")
            if change.get("diff"):
                typer.echo(str(change["diff"]).rstrip("\n"))
    else:
        output.emit(result, fmt)
    if changes and exit_code:
        raise typer.Exit(1)
