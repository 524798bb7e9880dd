"""`platform policy` end to end: the real CLI against an auto-started local server — list the
files, test a directory (passing, failing, not compiling), check input documents (denied,
warned, recorded) and list the recorded decisions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cli_helpers import build_file_tree, cli_env
from typer.testing import CliRunner

from goldenpath.cli.main import app

COSTS = """\
package goldenpath.costs

import rego.v1

warn contains v if {
    input.action == "deploy"
    is_number(input.service.replicas)
    input.service.replicas > 4
    v := {"rule": "cost-replicas", "message": "more than 4 replicas", "fix": "use 4 or fewer"}
}
"""

CASES = """\
cases:
  - name: nine replicas warn
    input:
      action: deploy
      service: {replicas: 9}
      owner: {ref: group:default/team-a, exists: true, kind: Group}
    expect: {warn: [cost-replicas]}
"""

DENIED_INPUT: dict[str, Any] = {
    "environment": {"name": "production", "production": True},
    "service": {
        "name": "hello",
        "tier": "critical",
        "replicas": 1,
        "cpu": "500m",
        "memory": "256Mi",
        "images": ["python:3.12"],
        "slo": None,
        "network_policy": True,
        "resources": [],
    },
    "owner": {"ref": "group:default/team-a", "exists": True, "kind": "Group"},
    "actor": "user:default/ann",
}


def test_policy_ls_test_check_and_decisions(home: Path, tmp_path: Path) -> None:
    first = subprocess.run(
        [sys.executable, "-m", "goldenpath.cli", "policy", "ls", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(home),
        check=False,
    )
    assert first.returncode == 0, first.stderr
    listing = json.loads(first.stdout)
    assert {f["name"] for f in listing["items"]} == {
        "ownership.rego",
        "resources.rego",
        "workload.rego",
    }

    runner, env = CliRunner(), cli_env(home)

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run("policy", "ls")
    assert code == 0 and "workload.rego" in out and "production-backups" in out, err

    good = build_file_tree(tmp_path / "good", {"costs.rego": COSTS, "costs_test.yaml": CASES})
    code, out, err = run("policy", "test", str(good), "-o", "json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] and report["failed"] == 0
    assert "nine replicas warn" in {c["name"] for c in report["cases"]}

    wrong = build_file_tree(
        tmp_path / "wrong",
        {"costs.rego": COSTS, "costs_test.yaml": CASES.replace("warn: [", "deny: [")},
    )
    code, out, err = run("policy", "test", str(wrong))
    assert code == 1
    assert "FAIL" in out and "nine replicas warn" in out and "1 failed" in out

    broken = build_file_tree(
        tmp_path / "broken", {"costs.rego": "package goldenpath.costs\n\nwarn contains v if {\n"}
    )
    code, out, err = run("policy", "test", str(broken))
    assert code == 1 and "costs.rego:" in err

    document = tmp_path / "input.json"
    document.write_text(json.dumps(DENIED_INPUT))
    code, out, err = run("policy", "check", str(document), "--action", "deploy", "-o", "json")
    assert code == 1, err
    decision = json.loads(out)
    assert {d["rule"] for d in decision["denials"]} == {"production-replicas", "critical-slo"}
    assert decision["id"] is None

    code, out, err = run("policy", "check", str(document), "-a", "deploy", "--record")
    assert code == 1 and "DENIED" in out and "production-replicas" in out
    assert "set `replicas: 2`" in out

    fine = {**DENIED_INPUT, "environment": {"name": "dev", "production": False}}
    fine["service"] = {**DENIED_INPUT["service"], "tier": "standard", "images": ["x:latest"]}
    document.write_text(json.dumps(fine))
    code, out, err = run("policy", "check", str(document), "-a", "deploy", "--record")
    assert code == 0 and "allowed" in out and "image-tag" in out, err

    code, out, err = run("policy", "decisions", "-o", "json")
    assert code == 0, err
    found = json.loads(out)
    assert [d["allowed"] for d in found] == [True, False]
    code, out, err = run("policy", "decisions", "--denied", "--action", "deploy")
    assert code == 0 and "DENIED" in out and "production-replicas" in out
    assert "allowed" not in out

    code, out, err = run("policy", "decisions", "--action", "destroy")
    assert code == 2 and "use one of deploy, provision, scaffold" in err
    code, out, err = run("policy", "check", str(tmp_path / "missing.json"), "-a", "deploy")
    assert code == 1 and "missing.json" in err
