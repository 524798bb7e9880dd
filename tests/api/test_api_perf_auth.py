"""The fast read path keeps its promises: cached tokens still honour revocation and expiry,
last use is still recorded, entity documents are sent byte-for-byte as the service has them,
and reads answered on the event loop equal those answered in worker threads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from apihelpers import Api
from sqlalchemy import Engine

from goldenpath.auth import service as auth_service
from goldenpath.auth import store as auth_store
from goldenpath.auth.service import AuthService
from goldenpath.errors import Unauthorized


def _member(api: Api) -> tuple[str, str]:
    created = api.post(
        "/api/auth/tokens", json={"owner": "user:default/admin", "role": "member", "name": "m"}
    ).json()
    return created["token"], created["id"]


def test_revoking_a_cached_token_stops_it_at_once(api: Api) -> None:
    token, token_id = _member(api)
    assert api.get("/api/auth/whoami", token).status_code == 200  # now cached
    assert api.delete(f"/api/auth/tokens/{token_id}").status_code == 204
    response = api.get("/api/auth/whoami", token)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_last_use_is_recorded_off_the_request_path(api: Api) -> None:
    token, token_id = _member(api)
    for _ in range(3):
        assert api.get("/api/auth/whoami", token).status_code == 200
    listed = {t["id"]: t for t in api.get("/api/auth/tokens").json()["items"]}
    used = datetime.fromisoformat(listed[token_id]["lastUsedAt"])
    assert datetime.now(UTC) - used < timedelta(minutes=1)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_revocation_by_another_replica_applies_within_the_ttl(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    auth = AuthService(engine=engine, clock=clock)
    created = auth.create_token_unchecked(
        owner="user:default/admin", role=auth_service.Role.MEMBER, name="ci"
    )
    assert auth.authenticate_cached(created.token) is None  # never seen: the database decides
    auth.authenticate(created.token)
    auth_store.revoke_token(engine, created.info.id, clock.now)  # as another replica would
    assert auth.authenticate(created.token).token_id == created.info.id  # cached, within TTL
    monkeypatch.setattr(auth_service, "TOKEN_CACHE_TTL", 0.0)
    with pytest.raises(Unauthorized, match="revoked"):
        auth.authenticate(created.token)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_cached_token_still_expires_on_time(engine: Engine) -> None:
    clock = _Clock()
    auth = AuthService(engine=engine, clock=clock)
    created = auth.create_token_unchecked(
        owner="user:default/admin", role=auth_service.Role.MEMBER, name="ci"
    )
    auth.revoke_token(created.info.id)
    fresh = auth.create_token(
        owner="user:default/admin", role="member", name="short", expires_in=timedelta(minutes=5)
    )
    assert auth.authenticate(fresh.token).token_name == "short"
    clock.now += timedelta(minutes=6)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate_cached(fresh.token)


def test_entity_documents_are_served_as_the_service_has_them(catalog_api: Api) -> None:
    catalog = catalog_api.client.app.state.services.catalog  # type: ignore[attr-defined]
    page = catalog_api.get("/api/catalog/entities/by-query", params={"limit": 3}).json()
    assert len(page["items"]) == 3 and page["totalItems"] >= 3
    first = page["items"][0]
    ref = f"{first['kind']}:{first['metadata']['namespace']}/{first['metadata']['name']}"
    response = catalog_api.get(f"/api/catalog/entities/by-name/{ref.replace(':', '/')}")
    assert response.headers["content-type"] == "application/json"
    assert response.content == catalog.get_entity_json_by_ref(ref)
    assert orjson.loads(response.content) == first == catalog.get_entity_by_ref(ref)
    listed = catalog_api.get("/api/catalog/entities", params={"limit": 3}).json()
    assert listed == page["items"]
    by_refs = catalog_api.post(
        "/api/catalog/entities/by-refs", json={"entityRefs": [ref, "component:default/nope"]}
    ).json()
    assert by_refs == {"items": [first, None]}


def _read_everything(api: Api) -> list[tuple[int, bytes]]:
    """Status and body of each hot read (entity documents, pages, cursor pages, facets)."""
    first = api.get(
        "/api/catalog/entities/by-query", params={"limit": 2, "filter": "kind=component"}
    )
    uid = first.json()["items"][0]["metadata"]["uid"]
    paths: list[tuple[str, dict[str, Any]]] = [
        ("/api/catalog/entities/by-name/component/default/checkout", {}),
        (f"/api/catalog/entities/by-uid/{uid}", {}),
        ("/api/catalog/entities/by-query", {"limit": 2, "filter": "kind=component"}),
        ("/api/catalog/entities/by-query", {"cursor": first.json()["pageInfo"]["nextCursor"]}),
        ("/api/catalog/entities", {"limit": 3, "filter": "spec.owner=team-a"}),
        ("/api/catalog/entity-facets", {"facet": ["kind", "spec.type"]}),
        ("/api/catalog/entities/by-name/component/default/nope", {}),
        ("/api/catalog/entities/by-query", {"cursor": "garbage"}),
    ]
    out = []
    for path, params in paths:
        response = api.get(path, params=params)
        out.append((response.status_code, response.content))
    return out


def test_reads_answer_the_same_on_the_event_loop_and_in_worker_threads(catalog_api: Api) -> None:
    """The async routes answer cheap reads on the event loop and the rest in the threadpool;
    both paths give byte-identical answers, errors included."""
    catalog = catalog_api.client.app.state.services.catalog  # type: ignore[attr-defined]
    catalog_api.get("/api/catalog/entity-facets", params={"facet": ["kind", "spec.type"]})
    fast = _read_everything(catalog_api)
    assert catalog.try_get_entity_json_by_ref("component:default/checkout") is not None
    assert catalog.try_facets(facets=["kind", "spec.type"]) is not None
    catalog.fast_limit = catalog.fast_relations = 0  # every try_* declines: worker threads
    threaded = _read_everything(catalog_api)
    assert fast == threaded
    statuses = [status for status, _ in fast]
    assert statuses == [200, 200, 200, 200, 200, 200, 404, 400]
    assert orjson.loads(fast[0][1])["metadata"]["name"] == "checkout"
