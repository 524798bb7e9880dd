"""Generate a realistic Backstage catalog of N entities as files, for the catalog benchmark.

The shape follows what organisations keep in their catalog repositories: one file per
repository (a Component, the APIs it provides and the Resources it uses), org files with
Groups (departments → teams) and Users, and one file per Domain with its Systems.

Mix for N entities (N = 100,000 → counts in brackets): Domains N/1000 (100), Systems N/50
(2,000), Groups N/100 (1,000: departments and their teams), Users N/10 (10,000), APIs 15 %
(15,000), Resources 12 % (12,000), Components the rest (59,900). Every Component has an
owner team and a System, depends on 0-3 other Components or Resources, provides the APIs
assigned to its repository and consumes 0-2 APIs; every reference resolves (no dangling
targets), so ingesting the catalog resolves about 7 relation pairs per Component.

Deterministic for a given (N, seed).

    python benchmarks/catalog_gen.py --entities 10000 --out /tmp/catalog-10k
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["Catalog", "build_catalog", "write_catalog"]

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_WORDS = [
    "atlas",
    "beacon",
    "cedar",
    "delta",
    "ember",
    "falcon",
    "granite",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lumen",
    "maple",
    "nimbus",
    "orbit",
    "pioneer",
    "quartz",
    "raven",
    "sierra",
    "tundra",
    "umber",
    "vertex",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "amber",
    "birch",
    "comet",
    "dune",
    "echo",
    "fjord",
    "glacier",
    "heron",
    "iris",
    "jade",
    "lotus",
]
_NOUNS = [
    "orders",
    "billing",
    "search",
    "ledger",
    "inventory",
    "shipping",
    "pricing",
    "accounts",
    "catalog",
    "reviews",
    "notifications",
    "payments",
    "identity",
    "reports",
    "loyalty",
    "returns",
    "checkout",
    "recommendations",
]
_COMPONENT_TYPES = ("service", "service", "service", "website", "library")
_LIFECYCLES = ("production", "production", "experimental", "deprecated")
_RESOURCE_TYPES = ("database", "database", "s3-bucket", "queue", "cache")
_TAGS = ("python", "java", "go", "typescript", "kotlin", "grpc", "rest", "pci", "gdpr", "batch")


@dataclass
class Catalog:
    """Generated entities by kind, each a Backstage entity ``dict``, plus file placement."""

    domains: list[dict] = field(default_factory=list)
    systems: list[dict] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    apis: list[dict] = field(default_factory=list)
    resources: list[dict] = field(default_factory=list)
    # component name → the APIs and Resources written into the same repository file
    repo_extras: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of entities (documents) in the catalog."""
        return sum(
            len(x)
            for x in (
                self.domains,
                self.systems,
                self.groups,
                self.users,
                self.components,
                self.apis,
                self.resources,
            )
        )

    def names(self, kind: str) -> list[str]:
        """``metadata.name`` of every entity of ``kind`` (e.g. ``"components"``)."""
        return [e["metadata"]["name"] for e in getattr(self, kind)]


def _entity(kind: str, name: str, spec: dict, **metadata: object) -> dict:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


def _name(rng: random.Random, prefix: str, i: int) -> str:
    return f"{prefix}-{rng.choice(_WORDS)}-{rng.choice(_NOUNS)}-{i}"


def _org(cat: Catalog, rng: random.Random, n_groups: int, n_users: int) -> list[str]:
    n_departments = max(1, n_groups // 20)
    departments = [f"dept-{rng.choice(_WORDS)}-{i}" for i in range(n_departments)]
    teams = [_name(rng, "team", i) for i in range(max(1, n_groups - n_departments))]
    children: dict[str, list[str]] = {d: [] for d in departments}
    team_parent = {t: departments[i % n_departments] for i, t in enumerate(teams)}
    for team, parent in team_parent.items():
        children[parent].append(team)
    for d in departments:
        cat.groups.append(
            _entity(
                "Group",
                d,
                {"type": "department", "children": children[d]},
                title=d.replace("-", " ").title(),
            )
        )
    for t in teams:
        cat.groups.append(
            _entity(
                "Group",
                t,
                {
                    "type": "team",
                    "parent": team_parent[t],
                    "children": [],
                    "profile": {"displayName": t, "email": f"{t}@example.com"},
                },
                description=f"The {t} team.",
            )
        )
    for i in range(n_users):
        name = f"user-{rng.choice(_WORDS)}-{i}"
        member_of = rng.sample(teams, k=min(len(teams), rng.choice((1, 1, 1, 2))))
        cat.users.append(
            _entity(
                "User",
                name,
                {
                    "profile": {
                        "displayName": name.replace("-", " ").title(),
                        "email": f"{name}@example.com",
                    },
                    "memberOf": member_of,
                },
            )
        )
    return teams


def _systems(cat: Catalog, rng: random.Random, teams: list[str], n_dom: int, n_sys: int) -> None:
    for i in range(n_dom):
        cat.domains.append(
            _entity(
                "Domain",
                _name(rng, "domain", i),
                {"owner": f"group:{rng.choice(teams)}"},
                description="A business domain.",
            )
        )
    for i in range(n_sys):
        cat.systems.append(
            _entity(
                "System",
                _name(rng, "system", i),
                {
                    "owner": rng.choice(teams),
                    "domain": cat.domains[i % n_dom]["metadata"]["name"],
                },
                description="A system of components that work together.",
                tags=[rng.choice(_TAGS)],
            )
        )


def _apis_and_resources(
    cat: Catalog, rng: random.Random, teams: list[str], n_api: int, n_res: int
) -> None:
    systems = cat.names("systems")
    for i in range(n_api):
        name = _name(rng, "api", i)
        definition = (
            'openapi: "3.0.3"\n'
            f"info: {{title: {name}, version: 1.0.{i % 10}}}\n"
            f"paths:\n  /{rng.choice(_NOUNS)}:\n    get:\n"
            '      responses: {"200": {description: OK}}\n'
        )
        cat.apis.append(
            _entity(
                "API",
                name,
                {
                    "type": "openapi",
                    "lifecycle": rng.choice(_LIFECYCLES),
                    "owner": rng.choice(teams),
                    "system": rng.choice(systems),
                    "definition": definition,
                },
                description=f"The {name} HTTP API.",
                tags=["rest"],
            )
        )
    for i in range(n_res):
        rtype = rng.choice(_RESOURCE_TYPES)
        cat.resources.append(
            _entity(
                "Resource",
                _name(rng, rtype, i),
                {
                    "type": rtype,
                    "owner": rng.choice(teams),
                    "system": rng.choice(systems),
                },
                description=f"A {rtype}.",
            )
        )


def _components(cat: Catalog, rng: random.Random, teams: list[str], n_comp: int) -> None:
    systems = cat.names("systems")
    names = [_name(rng, "svc", i) for i in range(n_comp)]
    apis = cat.names("apis")
    resources = cat.names("resources")
    for i, name in enumerate(names):
        deps = [
            f"component:{names[j]}"
            for j in rng.sample(range(n_comp), k=rng.choice((0, 1, 2)))
            if j != i
        ]
        if resources and rng.random() < 0.6:
            deps.append(f"resource:{rng.choice(resources)}")
        spec: dict = {
            "type": rng.choice(_COMPONENT_TYPES),
            "lifecycle": rng.choice(_LIFECYCLES),
            "owner": rng.choice(teams),
            "system": systems[i % len(systems)],
            "dependsOn": deps,
            "consumesApis": rng.sample(apis, k=min(len(apis), rng.choice((0, 1, 2)))),
        }
        cat.components.append(
            _entity(
                "Component",
                name,
                spec,
                description=f"The {name} component.",
                tags=rng.sample(_TAGS, k=2),
                annotations={"github.com/project-slug": f"example/{name}"},
            )
        )
        cat.repo_extras[name] = []
    for i, api in enumerate(cat.apis):  # each API is provided by exactly one component
        host = cat.components[i % n_comp]
        host["spec"].setdefault("providesApis", []).append(api["metadata"]["name"])
        cat.repo_extras[host["metadata"]["name"]].append(api)
    for i, res in enumerate(cat.resources):
        cat.repo_extras[names[(i * 7) % n_comp]].append(res)


def build_catalog(n: int, *, seed: int = 42) -> Catalog:
    """Build an in-memory catalog of about ``n`` entities (exactly ``n`` for n ≥ 1,000)."""
    if n < 100:
        raise ValueError("the generated catalog needs at least 100 entities")
    rng = random.Random(seed)
    n_dom, n_sys, n_grp = max(1, n // 1000), max(2, n // 50), max(3, n // 100)
    n_usr, n_api, n_res = n // 10, n * 15 // 100, n * 12 // 100
    n_comp = n - n_dom - n_sys - n_grp - n_usr - n_api - n_res
    cat = Catalog()
    teams = _org(cat, rng, n_grp, n_usr)
    _systems(cat, rng, teams, n_dom, n_sys)
    _apis_and_resources(cat, rng, teams, n_api, n_res)
    _components(cat, rng, teams, n_comp)
    return cat


def _dump(entities: list[dict]) -> str:
    # Block-style YAML, as people write catalog-info.yaml by hand.
    return yaml.dump_all(
        entities,
        Dumper=_Dumper,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def write_catalog(cat: Catalog, root: Path, *, chunk: int = 500) -> int:
    """Write ``cat`` under ``root`` as YAML files; returns the number of files written.

    Layout: ``org/groups-NNN.yaml`` and ``org/users-NNN.yaml`` (``chunk`` documents each),
    ``domains/<domain>.yaml`` (the Domain and its Systems), and
    ``repos/<system>/<component>/catalog-info.yaml`` (a Component with the APIs and
    Resources of its repository).
    """
    files = 0
    (root / "org").mkdir(parents=True, exist_ok=True)
    for label, entities in (("groups", cat.groups), ("users", cat.users)):
        for k in range(0, len(entities), chunk):
            (root / "org" / f"{label}-{k // chunk:03d}.yaml").write_text(
                _dump(entities[k : k + chunk])
            )
            files += 1
    by_domain: dict[str, list[dict]] = {d["metadata"]["name"]: [d] for d in cat.domains}
    for s in cat.systems:
        by_domain[s["spec"]["domain"]].append(s)
    (root / "domains").mkdir(exist_ok=True)
    for name, entities in by_domain.items():
        (root / "domains" / f"{name}.yaml").write_text(_dump(entities))
        files += 1
    for comp in cat.components:
        name = comp["metadata"]["name"]
        repo = root / "repos" / comp["spec"]["system"] / name
        repo.mkdir(parents=True, exist_ok=True)
        (repo / "catalog-info.yaml").write_text(_dump([comp, *cat.repo_extras[name]]))
        files += 1
    return files


def main() -> None:
    """CLI: write a generated catalog to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    cat = build_catalog(args.entities, seed=args.seed)
    files = write_catalog(cat, args.out)
    print(json.dumps({"entities": cat.total, "files": files, "out": str(args.out)}))


if __name__ == "__main__":
    main()
