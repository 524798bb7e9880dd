"""The deploy engine's step logic against a SCRIPTED in-memory driver and an injected clock.

``ScriptedDriver`` implements :class:`~goldenpath.drivers.base.RuntimeDriver` with no
processes: a replica's behaviour is scripted per package (``ready``, ``crash``, ``never``)
and router counters are fed by the test (:meth:`ScriptedDriver.traffic`). This pins down
state transitions, timing rules (analysis windows, start timeouts, deadlines, drain) and
crash-safety deterministically and fast, on SQLite and PostgreSQL;
``test_deploy_service_local.py`` runs the same flows against the real local driver
(processes + HAProxy).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from goldenpath.deploy import store
from goldenpath.deploy.records import Deployment
from goldenpath.deploy.service import DeployRequest, DeployService
from goldenpath.drivers.base import (
    BuildRequest,
    LogLine,
    LogSink,
    Release,
    ReplicaStatus,
    Revision,
    RunSpec,
    ServiceUrls,
    VersionFigures,
)
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.settings import Settings
from goldenpath.store import leases

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ScriptedDriver:
    """A scripted RuntimeDriver: no processes, behaviour per package, counters fed by tests."""

    name = "local"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.behaviour: dict[str, str] = {}  # package → ready | crash | never
        self.releases: dict[str, Release] = {}
        self.replica_sets: dict[tuple[str, str, str], dict[int, ReplicaStatus]] = {}
        self.weights: dict[tuple[str, str], dict[str, int]] = {}
        self.counters: dict[tuple[str, str, str], list[int]] = {}
        self.since = T0
        self.builds: list[BuildRequest] = []
        self.started: list[tuple[str, str, str, int]] = []
        self.release_of: dict[tuple[str, str, str], Release] = {}
        self.route_log: list[tuple[str, str, dict[str, int], set[str]]] = []

    # builds
    def resolve(self, repo: str, ref: str) -> Revision:
        return Revision(hashlib.sha1(ref.encode()).hexdigest(), T0, "Dev <dev@example.com>", "x")

    def build(self, request: BuildRequest, log: LogSink) -> Release:
        self.builds.append(request)
        log(f"installing {request.package}")
        if self.behaviour.get(str(request.package)) == "unbuildable":
            raise InvalidInput("uv pip install failed: No solution found when resolving")
        rid = "pkg-" + hashlib.sha256(str(request.package).encode()).hexdigest()[:12]
        release = Release(rid, request.service, self.home, self.home, (), None)
        self.releases[rid] = release
        return release

    def release(self, service: str, release_id: str) -> Release | None:
        return self.releases.get(release_id)

    # replicas
    def _behaviour(self, release: Release) -> str:
        for package, behaviour in self.behaviour.items():
            if "pkg-" + hashlib.sha256(package.encode()).hexdigest()[:12] == release.id:
                return behaviour
        return "ready"

    def start(
        self,
        environment: str,
        service: str,
        version: str,
        release: Release,
        run: RunSpec,
        replicas: int,
    ) -> list[ReplicaStatus]:
        current = self.replica_sets.setdefault((environment, service, version), {})
        self.started.append((environment, service, version, replicas))
        self.release_of[(environment, service, version)] = release
        for index in list(current):
            if index >= replicas:
                del current[index]
        for index in range(replicas):
            if index not in current:
                current[index] = ReplicaStatus(
                    environment, service, version, index, "starting", 1000 + index, 20000 + index
                )
        return [r for r in self.replicas(environment, service) if r.version == version]

    def stop(self, environment: str, service: str, version: str) -> None:
        self.replica_sets.pop((environment, service, version), None)

    def replicas(self, environment: str, service: str) -> list[ReplicaStatus]:
        """Replica states follow the CURRENT behaviour of their release's package."""
        out = []
        states: dict[str, Any] = {"ready": "ready", "crash": "failed", "never": "starting"}
        for (env, svc, version), reps in sorted(self.replica_sets.items()):
            if (env, svc) == (environment, service):
                state = states[self._behaviour(self.release_of[(env, svc, version)])]
                out += [replace(reps[i], state=state) for i in sorted(reps)]
        return out

    def versions(self, environment: str = "dev", service: str = "demo") -> set[str]:
        return {r.version for r in self.replicas(environment, service)}

    # routing
    def route(self, environment: str, service: str, weights: Mapping[str, int]) -> ServiceUrls:
        self.weights[(environment, service)] = dict(weights)
        self.route_log.append(
            (environment, service, dict(weights), self.versions(environment, service))
        )
        return self.urls(environment, service)

    def urls(self, environment: str, service: str) -> ServiceUrls | None:
        if (environment, service) not in self.weights:
            return None
        return ServiceUrls(f"http://{service}.{environment}.localhost:1", None, "http://x:2")

    def traffic(self, requests: int, bad: Mapping[str, float], env: str = "dev") -> None:
        """``requests`` split by the current weights; ``bad[version]`` = its 5xx share."""
        for version, weight in self.weights.get((env, "demo"), {}).items():
            n = requests * weight // 100
            counter = self.counters.setdefault((env, "demo", version), [0, 0])
            counter[0] += n
            counter[1] += int(n * bad.get(version, 0.0))

    def figures(self, environment: str, service: str) -> dict[str, VersionFigures]:
        out = {}
        for version in self.weights.get((environment, service), {}):  # routed: counters exist
            self.counters.setdefault((environment, service, version), [0, 0])
        for (env, svc, version), (requests, r5) in self.counters.items():
            if (env, svc) == (environment, service):
                out[version] = VersionFigures(
                    version, requests, {"2xx": requests - r5, "5xx": r5}, 0, 3.0, self.since
                )
        return out

    def logs(
        self,
        environment: str,
        service: str,
        *,
        since: datetime | None = None,
    ) -> Iterator[LogLine]:
        return iter([])

    def teardown(self, environment: str, service: str | None = None) -> None:
        for key in list(self.replica_sets):
            if key[0] == environment and service in (None, key[1]):
                del self.replica_sets[key]
        for pair in list(self.weights):
            if pair[0] == environment and service in (None, pair[1]):
                del self.weights[pair]


SPEC = """
kind: Service
metadata: {{name: demo}}
spec:
  build: {{package: "{package}"}}
  run: {{command: [demo, --port, $PORT], readiness: /readyz}}
  runtime: {{replicas: {replicas}}}
  deployment:
{deployment}
"""
ROLLING = "    strategy: rolling\n    canary: true\n    progressDeadline: 120s\n"


def spec(package: str, *, replicas: int = 2, deployment: str = ROLLING) -> str:
    return SPEC.format(package=package, replicas=replicas, deployment=deployment)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def driver(settings: Settings) -> ScriptedDriver:
    return ScriptedDriver(settings.home)


@pytest.fixture
def svc(engine: Engine, settings: Settings, driver: ScriptedDriver, clock: Clock) -> DeployService:
    settings = settings.model_copy(
        update={"deploy": settings.deploy.model_copy(update={"reconcile_interval": 0.0})}
    )
    return DeployService(engine=engine, settings=settings, driver=driver, clock=clock)


def deploy(
    svc: DeployService, text: str, *, canary: int | None = None, env: str = "dev"
) -> Deployment:
    return svc.deploy(DeployRequest(environment=env, spec_text=text, canary=canary), actor="ann")


def run_until(
    svc: DeployService,
    d: Deployment,
    states: set[str],
    clock: Clock,
    step: float = 1.0,
    passes: int = 200,
) -> Deployment:
    """Reconcile (moving the clock ``step`` s per pass) until ``d`` is in ``states``."""
    for _ in range(passes):
        current = svc.get_deployment(d.id)
        if current.state in states:
            return current
        report = svc.reconcile_once()
        assert not report.errors, report.errors
        clock.advance(step)
    raise AssertionError(
        f"{d.version} stuck in {svc.get_deployment(d.id).state}: {svc.get_deployment(d.id).message}"
    )


def settle(svc: DeployService, clock: Clock, seconds: float = 3.0) -> None:
    """Let the drain time pass and run passes (old versions leave)."""
    for _ in range(int(seconds)):
        clock.advance(1.0)
        svc.reconcile_once()


def first_stable(svc: DeployService, driver: ScriptedDriver, clock: Clock, **kw: Any) -> Deployment:
    d = run_until(svc, deploy(svc, spec("demo==1.0", **kw)), {"succeeded"}, clock)
    settle(svc, clock)
    return d


# -- rolling ---------------------------------------------------------------------------------


def test_scripted_rolling_first_deploy_walks_the_states_and_routes_all_traffic(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    d = deploy(svc, spec("demo==1.0"))
    assert d.state == "pending" and d.version == "d1"
    done = run_until(svc, d, {"succeeded"}, clock)
    assert [t.to_state for t in done.transitions] == [
        "pending",
        "building",
        "progressing",
        "succeeded",
    ]
    assert driver.weights[("dev", "demo")] == {"d1": 100}
    assert [r.state for r in driver.replicas("dev", "demo")] == ["ready", "ready"]
    assert done.release_id and store.get_target(svc.engine, "demo", "dev").stable_id == done.id
    assert "serves 100%" in done.message


def test_scripted_rolling_update_shifts_traffic_then_the_old_version_leaves_after_draining(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    d2 = deploy(svc, spec("demo==2.0"))
    del driver.route_log[:]
    run_until(svc, d2, {"succeeded"}, clock, step=0.25)
    routes = [weights for _, _, weights, _ in driver.route_log]
    assert routes == [{"d1": 50, "d2": 50}, {"d1": 0, "d2": 100}, {"d2": 100}]
    for _, _, weights, running in driver.route_log:  # new replicas ready before old ones leave
        assert {v for v, w in weights.items() if w} <= running
    assert driver.versions() == {"d1", "d2"}  # d1 drains first
    settle(svc, clock)
    assert driver.versions() == {"d2"}


# -- canary ----------------------------------------------------------------------------------

CANARY = (
    "    strategy: canary\n    progressDeadline: 120s\n    steps:\n      - setWeight: 10\n"
    "      - analysis: {interval: 5s, count: 2, minRequests: 10}\n      - setWeight: 50\n"
)


def to_analysis(svc: DeployService, d: Deployment, clock: Clock) -> Deployment:
    for _ in range(30):
        current = svc.get_deployment(d.id)
        if (
            current.state == "progressing"
            and current.steps[current.step_index].get("analysis") is not None
            and (current.progress.get("step") or {}).get("baseline") is not None
        ):
            return current
        svc.reconcile_once()
        clock.advance(0.5)
    raise AssertionError("never reached the analysis step")


def test_scripted_canary_of_a_bad_version_is_aborted_on_the_first_failed_measurement(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    driver.behaviour["demo==2.0"] = "ready"
    d2 = deploy(svc, spec("demo==2.0", deployment=CANARY), canary=10)
    to_analysis(svc, d2, clock)
    assert driver.weights[("dev", "demo")] == {"d1": 90, "d2": 10}
    driver.traffic(1000, {"d2": 0.8})
    clock.advance(5.0)
    svc.reconcile_once()
    done = svc.get_deployment(d2.id)
    assert done.state == "aborted"
    assert "analysis failed" in done.message and "maxErrorRate" in done.message
    assert "d1 still serves" in done.message
    assert driver.weights[("dev", "demo")] == {"d1": 100}
    runs = done.progress["analysisRuns"]
    assert runs[-1]["phase"] == "Failed" and len(runs[-1]["measurements"]) == 1
    settle(svc, clock)
    assert driver.versions() == {"d1"}  # no stray replica of the bad version
    assert store.get_target(svc.engine, "demo", "dev").stable_id == 1


def test_scripted_canary_of_a_good_version_passes_analysis_and_is_promoted(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    d2 = deploy(svc, spec("demo==2.0", deployment=CANARY), canary=20)
    assert d2.steps[0] == {"setWeight": 20}
    to_analysis(svc, d2, clock)
    for _ in range(2):
        driver.traffic(1000, {"d1": 0.01, "d2": 0.01})
        clock.advance(5.0)
        svc.reconcile_once()
    done = run_until(svc, d2, {"succeeded"}, clock)
    assert [r["phase"] for r in done.progress["analysisRuns"]] == ["Successful"]
    settle(svc, clock)
    assert driver.weights[("dev", "demo")] == {"d2": 100}
    assert driver.versions() == {"d2"}


def test_scripted_analysis_without_traffic_is_inconclusive_and_pauses(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    d2 = deploy(svc, spec("demo==2.0", deployment=CANARY), canary=10)
    paused = run_until(svc, d2, {"paused", "succeeded", "aborted", "failed"}, clock, step=2.5)
    assert paused.state == "paused"
    assert "inconclusive" in paused.message and "no traffic reached the canary" in paused.message
    assert driver.weights[("dev", "demo")] == {"d1": 90, "d2": 10}  # a person decides
    clock.advance(600)  # no deadline while waiting for a person
    svc.reconcile_once()
    assert svc.get_deployment(d2.id).state == "paused"
    svc.promote("demo", "dev", actor="bob")
    done = run_until(svc, d2, {"succeeded"}, clock)
    assert any(t.actor == "bob" and t.reason.startswith("promoted") for t in done.transitions)


def test_scripted_promote_through_an_indefinite_pause(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    steps = (
        "    strategy: canary\n    steps:\n      - setWeight: 30\n      - pause: {}\n"
        "      - setWeight: 60\n      - pause: 10s\n"
    )
    d2 = deploy(svc, spec("demo==2.0", deployment=steps))
    paused = run_until(svc, d2, {"paused"}, clock)
    assert paused.step_index == 1 and "promote" in paused.message
    assert driver.weights[("dev", "demo")] == {"d1": 70, "d2": 30}
    with pytest.raises(Conflict, match="nothing to promote"):
        svc.promote("demo", "staging", actor="bob")
    svc.promote("demo", "dev", actor="bob")
    timed = run_until(svc, d2, {"paused"}, clock, step=0.5)
    assert timed.step_index == 3 and "pause 10 s" in timed.message
    assert driver.weights[("dev", "demo")] == {"d1": 40, "d2": 60}
    done = run_until(svc, d2, {"succeeded"}, clock)
    assert done.finished_at is not None and done.finished_at >= paused.updated_at + timedelta(
        seconds=10
    )


def test_scripted_promote_full_skips_remaining_steps(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    steps = (
        "    strategy: canary\n    steps:\n      - setWeight: 10\n      - pause: {}\n"
        "      - setWeight: 50\n      - pause: {}\n"
    )
    d2 = deploy(svc, spec("demo==2.0", deployment=steps))
    svc.reconcile_once()
    svc.reconcile_once()
    assert svc.get_deployment(d2.id).state == "progressing"
    with pytest.raises(Conflict, match="promote resumes a paused rollout"):
        svc.promote("demo", "dev", actor="bob")
    run_until(svc, d2, {"paused"}, clock)
    svc.promote("demo", "dev", actor="bob", full=True)
    done = run_until(svc, d2, {"succeeded"}, clock)
    assert [t.to_state for t in done.transitions].count("paused") == 1
    assert "setWeight 50%" not in str(done.progress.get("completed"))
    settle(svc, clock)
    assert driver.weights[("dev", "demo")] == {"d2": 100}


def test_scripted_abort_returns_traffic_at_once(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    steps = "    strategy: canary\n    steps:\n      - setWeight: 25\n      - pause: {}\n"
    d2 = deploy(svc, spec("demo==2.0", deployment=steps))
    run_until(svc, d2, {"paused"}, clock)
    aborted = svc.abort("demo", "dev", actor="bob")
    assert aborted.state == "aborted" and "aborted by bob" in aborted.message
    assert driver.weights[("dev", "demo")] == {"d1": 100}
    settle(svc, clock)
    assert driver.versions() == {"d1"}
    with pytest.raises(Conflict, match="nothing to abort"):
        svc.abort("demo", "dev", actor="bob")


def test_scripted_first_canary_is_a_plain_rollout_and_says_so(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    d = deploy(svc, spec("demo==1.0", deployment=CANARY), canary=10)
    # nothing serves yet: every replica (2) starts at once
    assert d.strategy == "canary" and d.steps == ({"rollingUpdate": {"maxSurge": 2}},)
    assert "first deployment" in d.message and "rolls out plainly" in d.message
    done = run_until(svc, d, {"succeeded"}, clock)
    assert "first deployment: no stable version to compare a canary rollout with" in done.message


def test_scripted_manual_rollback_pauses_on_failed_analysis(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    manual = CANARY + "    rollback: manual\n"
    d2 = deploy(svc, spec("demo==2.0", deployment=manual), canary=10)
    to_analysis(svc, d2, clock)
    driver.traffic(1000, {"d2": 0.5})
    clock.advance(5.0)
    svc.reconcile_once()
    held = svc.get_deployment(d2.id)
    assert held.state == "paused" and "rollback is manual" in held.message
    assert driver.weights[("dev", "demo")] == {"d1": 90, "d2": 10}
    assert svc.abort("demo", "dev", actor="ann").state == "aborted"
    assert driver.weights[("dev", "demo")] == {"d1": 100}


def test_scripted_blue_green_previews_without_traffic_then_switches_at_once(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    policy = (
        "    strategy: blue-green\n    canary: true\n"
        "    steps:\n      - setWeight: 10\n      - pause: {}\n"
    )
    d2 = deploy(svc, spec("demo==2.0", deployment=policy))
    assert d2.steps == ({"preview": {}}, {"pause": {}}, {"switch": {}})
    del driver.route_log[:]
    paused = run_until(svc, d2, {"paused"}, clock)
    assert paused.step_index == 1
    # the preview runs fully ready, in the router with no traffic
    assert driver.weights[("dev", "demo")] == {"d1": 100, "d2": 0}
    assert [r.state for r in driver.replicas("dev", "demo") if r.version == "d2"] == ["ready"] * 2
    svc.promote("demo", "dev", actor="ann")
    run_until(svc, d2, {"succeeded"}, clock)
    routes = [weights for _, _, weights, _ in driver.route_log]
    assert routes == [{"d1": 100, "d2": 0}, {"d1": 0, "d2": 100}, {"d2": 100}]


# -- failures --------------------------------------------------------------------------------


def test_scripted_build_failure_fails_the_deployment_with_the_tool_output(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    driver.behaviour["demo==2.0"] = "unbuildable"
    done = run_until(svc, deploy(svc, spec("demo==2.0")), {"failed", "succeeded"}, clock)
    assert done.state == "failed" and done.release_id is None
    assert "build failed: uv pip install failed" in done.message
    assert [t.to_state for t in done.transitions] == ["pending", "building", "failed"]
    assert driver.versions() == {"d1"} and driver.weights[("dev", "demo")] == {"d1": 100}


def test_scripted_crashing_replicas_fail_the_deployment_and_leave_the_stable_serving(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    driver.behaviour["demo==2.0"] = "crash"
    done = run_until(svc, deploy(svc, spec("demo==2.0")), {"failed", "succeeded"}, clock)
    assert done.state == "failed"
    assert "replica r0 of d2 failed" in done.message and "d1 still serves" in done.message
    settle(svc, clock)
    assert driver.weights[("dev", "demo")] == {"d1": 100}
    assert driver.versions() == {"d1"}


def test_scripted_replicas_never_ready_fail_after_the_start_timeout(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    driver.behaviour["demo==2.0"] = "never"
    d2 = deploy(svc, spec("demo==2.0"))
    started = run_until(svc, d2, {"progressing"}, clock)
    done = run_until(svc, d2, {"failed", "succeeded"}, clock, step=5.0)
    assert done.state == "failed" and "not ready within 60 s" in done.message
    elapsed = (done.finished_at - started.updated_at).total_seconds()
    assert 60 <= elapsed <= 75
    settle(svc, clock)
    assert driver.versions() == {"d1"}


def test_scripted_progress_deadline_fails_a_rollout_stuck_in_a_timed_pause(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    first_stable(svc, driver, clock)
    steps = (
        "    strategy: canary\n    progressDeadline: 30s\n    steps:\n"
        "      - setWeight: 10\n      - pause: 1h\n"
    )
    d2 = deploy(svc, spec("demo==2.0", deployment=steps))
    done = run_until(svc, d2, {"failed"}, clock, step=5.0)
    assert "progress deadline of 30 s passed at step 2/2 (pause 3600 s)" in done.message


def test_scripted_refused_requests_leave_no_record(svc: DeployService) -> None:
    no_build = "kind: Service\nmetadata: {name: demo}\nspec:\n  run: {command: [demo]}\n"
    with pytest.raises(InvalidInput, match=r"spec\.build"):
        deploy(svc, no_build)
    placeholder = spec("demo==1.0").replace(
        "readiness: /readyz}",
        "readiness: /readyz, env: {DB: '${resources.db.url}'}}\n  database: {type: postgres}",
    )
    with pytest.raises(InvalidInput, match=r"DB uses \$\{resources.db.url\}"):
        deploy(svc, placeholder)
    with pytest.raises(InvalidInput, match=r"spec\.runtime\.replicas"):
        deploy(svc, spec("demo==1.0", replicas=-1))
    with pytest.raises(NotFound, match="nowhere"):
        deploy(svc, spec("demo==1.0"), env="nowhere")
    with pytest.raises(InvalidInput, match=r"1\.\.100"):
        deploy(svc, spec("demo==1.0"), canary=0)
    assert svc.history() == []


def test_scripted_two_deploys_at_once_the_second_is_refused_naming_the_first(
    svc: DeployService,
) -> None:
    d1 = deploy(svc, spec("demo==1.0"))
    with pytest.raises(Conflict, match=f"{d1.id}"):
        deploy(svc, spec("demo==2.0"))
    assert [d.id for d in svc.history()] == [d1.id]


# -- rollback --------------------------------------------------------------------------------


def test_scripted_rollback_reuses_the_old_release_without_building(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    d1 = first_stable(svc, driver, clock)
    d2 = run_until(svc, deploy(svc, spec("demo==2.0")), {"succeeded"}, clock)
    settle(svc, clock)
    builds = len(driver.builds)
    rb = svc.rollback("demo", "dev", actor="ann")
    assert rb.kind == "rollback" and rb.rollback_of == d1.id and rb.release_id == d1.release_id
    assert "from d2 to d1" in rb.message
    done = run_until(svc, rb, {"succeeded"}, clock)
    settle(svc, clock)
    assert len(driver.builds) == builds  # nothing rebuilt
    assert driver.weights[("dev", "demo")] == {rb.version: 100}
    assert driver.versions() == {rb.version}
    assert done.sha == d1.sha
    # again: back to d2 (the succeeded one before the rollback with another release)
    again = svc.rollback("demo", "dev", actor="ann")
    assert again.rollback_of == d2.id
    run_until(svc, again, {"succeeded"}, clock)
    with pytest.raises(Conflict, match="serves"):
        svc.rollback("demo", "dev", actor="ann", to=again.id)


def test_scripted_redeploy_rolls_the_serving_release_out_again_without_building(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    with pytest.raises(NotFound, match="no successful deployment"):
        svc.redeploy("demo", "dev", actor="ann", reason="secret rotated")
    d1 = first_stable(svc, driver, clock)
    builds = len(driver.builds)
    again = svc.redeploy("demo", "dev", actor="secrets", reason="secret DB_PASSWORD rotated")
    assert again.kind == "redeploy" and again.rollback_of == d1.id
    assert again.release_id == d1.release_id and "secret DB_PASSWORD rotated" in again.message
    done = run_until(svc, again, {"succeeded"}, clock)
    settle(svc, clock)
    assert len(driver.builds) == builds  # same release, nothing rebuilt
    assert driver.versions() == {done.version} and done.sha == d1.sha
    assert driver.weights[("dev", "demo")] == {done.version: 100}


def test_scripted_rollback_to_a_release_gone_from_disk_is_refused(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    d1 = first_stable(svc, driver, clock)
    run_until(svc, deploy(svc, spec("demo==2.0")), {"succeeded"}, clock)
    del driver.releases[d1.release_id]
    with pytest.raises(Conflict, match="no longer on this machine"):
        svc.rollback("demo", "dev", actor="ann", to=d1.id)
    with pytest.raises(NotFound):
        svc.rollback("other", "dev", actor="ann")


# -- the reconciler: crash safety, drift, environments ---------------------------------------


def test_scripted_a_new_server_resumes_a_deployment_left_mid_step(
    engine: Engine,
    settings: Settings,
    driver: ScriptedDriver,
    clock: Clock,
    svc: DeployService,
) -> None:
    first_stable(svc, driver, clock)
    steps = "    strategy: canary\n    steps:\n      - setWeight: 10\n      - setWeight: 40\n"
    driver.behaviour["demo==2.0"] = "never"  # replicas start but are not ready yet
    d2 = deploy(svc, spec("demo==2.0", deployment=steps))
    mid = run_until(svc, d2, {"progressing"}, clock)
    svc.reconcile_once()
    assert driver.versions() == {"d1", "d2"} and mid.step_index == 0
    # "kill" the first server: its lease stays until it expires; a second server waits
    second = DeployService(engine=engine, settings=svc.settings, driver=driver, clock=clock)
    assert second.reconcile_once().skipped == [d2.id]
    clock.advance(svc.settings.deploy.lease_ttl + 1)
    driver.behaviour["demo==2.0"] = "ready"
    done = run_until(second, d2, {"succeeded"}, clock)
    # one replica set per version, scaled 1 → 2; never a duplicate
    assert [n for _, _, v, n in driver.started if v == "d2"][-1] == 2
    assert [t.to_state for t in done.transitions].count("progressing") == 1
    settle(second, clock)
    assert driver.versions() == {"d2"} and driver.weights[("dev", "demo")] == {"d2": 100}
    assert leases.holder_of(engine, "deploy:demo:dev", now=clock()) is None


def test_scripted_drift_is_restored_and_orphans_stopped(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    d1 = first_stable(svc, driver, clock)
    release = driver.releases[d1.release_id]
    driver.stop("dev", "demo", "d1")  # a replica set vanished
    driver.start("dev", "demo", "d99", release, RunSpec(("x",)), 1)  # nobody wants this
    driver.weights[("dev", "demo")] = {"d1": 50, "d99": 50}  # the router drifted
    store.set_weights(svc.engine, "demo", "dev", {"d1": 50, "d99": 50})
    report = svc.reconcile_once()
    assert report.settled == ["demo/dev"]
    assert driver.weights[("dev", "demo")] == {"d1": 100}
    assert "d1" in driver.versions()
    settle(svc, clock)
    assert driver.versions() == {"d1"}


def test_scripted_expired_environment_is_torn_down(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    env = svc.create_environment("pr-7", source="dev", ttl=3600, actor="ann")
    assert env.ephemeral and env.expires_at == T0 + timedelta(hours=1)
    d = run_until(svc, deploy(svc, spec("demo==1.0"), env="pr-7"), {"succeeded"}, clock)
    assert driver.versions("pr-7") == {d.version}
    clock.advance(3600)
    report = svc.reconcile_once()
    assert report.torn_down == ["pr-7"]
    assert driver.versions("pr-7") == set() and ("pr-7", "demo") not in driver.weights
    assert "pr-7" not in [e.name for e in svc.list_environments()]
    assert svc.get_deployment(d.id).state == "succeeded"  # history stays
    # a TTL beyond 3650 days is refused before anything is stored (its expiry overflowed)
    with pytest.raises(InvalidInput, match="ttl must be a positive number"):
        svc.create_environment("pr-8", ttl=1e12, actor="ann")
    assert "pr-8" not in [e.name for e in svc.list_environments()]


def test_scripted_clone_redeploys_stable_versions_without_building(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    d1 = first_stable(svc, driver, clock)
    builds = len(driver.builds)
    svc.clone_environment("dev", "pr-8", actor="ann")
    [clone] = svc.history(environment="pr-8")
    assert clone.release_id == d1.release_id
    run_until(svc, clone, {"succeeded"}, clock)
    assert len(driver.builds) == builds
    assert driver.weights[("pr-8", "demo")] == {clone.version: 100}
    deleted = svc.delete_environment("pr-8", actor="ann")
    assert deleted.status == "deleting" and driver.versions("pr-8") == set()
    with pytest.raises(Conflict, match="default environment"):
        svc.delete_environment("dev", actor="ann")


def test_scripted_status_shows_versions_replicas_and_recent(
    svc: DeployService, driver: ScriptedDriver, clock: Clock
) -> None:
    d1 = first_stable(svc, driver, clock)
    [status] = svc.status("demo")
    body = status.to_dict()
    assert body["weights"] == {"d1": 100} and body["stableId"] == d1.id
    [version] = body["versions"]
    assert version["ready"] == 2 and version["desired"] == 2
    assert body["recent"][0]["id"] == d1.id and "workload" not in body["recent"][0]
    with pytest.raises(NotFound, match="never deployed"):
        svc.status("ghost")
    assert replace(status, recent=[]).to_dict()["recent"] == []
