"""Portal sign-in, sessions, the page frame, home and error pages, through the real app.

One app per module (``portal`` fixture, portalhelpers); OIDC runs against a provider served
by a local ``http.server`` on 127.0.0.1 (no real identity provider is reachable here).
"""

from __future__ import annotations

import contextlib
import json
import re
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from portalhelpers import PASSWORD, Portal, csrf_of, login, logout, open_portal

from goldenpath.errors import InvalidInput
from goldenpath.portal.session import PRESESSION_COOKIE, SESSION_COOKIE, session_key_file


def _main(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


def _set_cookie(response: Any, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[0]


def _session_tokens(portal: Portal, owner: str) -> list[dict[str, Any]]:
    listed = portal.client.get(
        "/api/auth/tokens", params={"limit": 500}, headers=portal.api_headers()
    ).json()["items"]
    return [t for t in listed if t["owner"] == owner and t["name"] == "portal session"]


def test_a_stranger_is_sent_to_the_sign_in_page_and_back(portal: Portal) -> None:
    client = portal.new_client()
    first = client.get("/?tab=x", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/%3Ftab%3Dx"
    page = client.get(first.headers["location"])
    html = page.text
    assert page.status_code == 200 and "Sign in to goldenpath" in html
    assert '<label for="login-user">User name</label>' in html
    assert '<label for="login-password">Password</label>' in html
    assert 'class="skip-link" href="#main"' in html and '<main id="main"' in html
    assert "<header" in html and "<footer" in html and 'aria-label="Main"' in html
    assert "/static/vendor/@picocss/pico/css/pico.min.css" in html
    assert "Single sign-on" not in html  # no OIDC configured
    assert "HttpOnly" in _set_cookie(page, PRESESSION_COOKIE)
    done = login(client, "jane", next="/?tab=x")
    assert done.headers["location"] == "/?tab=x"
    cookie = _set_cookie(done, SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "Jane Doe" in home.text and "Sign out" in home.text and "member" in home.text


def test_wrong_password_and_unknown_user_get_the_same_answer(portal: Portal) -> None:
    client = portal.new_client()
    answers = []
    for user, password in (("jane", "wrong-password"), ("nobody", PASSWORD)):
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"user": user, "password": password, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 401
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
        answers.append(re.search(r'role="alert"[^>]*>([^<]+)<', answer.text).group(1))  # type: ignore[union-attr]
    assert answers[0] == answers[1] == "sign-in failed: unknown user or wrong password"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_sign_in_form_refuses_a_post_without_its_csrf_token(portal: Portal) -> None:
    client = portal.new_client()
    client.get("/login")
    for token in ("", "forged"):
        answer = client.post(
            "/login",
            data={"user": "jane", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("text/html")
        assert "CSRF check failed" in answer.text
    stranger = portal.new_client()  # a form posted from another site has no pre-session
    page = client.get("/login")
    answer = stranger.post(
        "/login",
        data={"user": "jane", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_sign_in_never_redirects_to_another_site(portal: Portal, target: str) -> None:
    client = portal.new_client()
    assert login(client, "jane", next=target).headers["location"] == "/"


def test_sign_out_revokes_the_session_token(portal: Portal) -> None:
    client = portal.new_client()
    login(client, "bob")
    tokens = _session_tokens(portal, "user:default/bob")
    live = [t for t in tokens if t["revokedAt"] is None]
    assert len(live) == 1
    created = time.mktime(time.strptime(live[0]["createdAt"][:19], "%Y-%m-%dT%H:%M:%S"))
    expires = time.mktime(time.strptime(live[0]["expiresAt"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert expires - created == portal.settings.portal.session_max_age
    stolen = client.cookies.get(SESSION_COOKIE)
    logout(client)
    assert client.get("/", follow_redirects=False).status_code == 303
    assert all(t["revokedAt"] for t in _session_tokens(portal, "user:default/bob"))
    replay = portal.new_client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/", follow_redirects=False).headers["location"] == "/login?next=/"


def test_a_tampered_session_cookie_is_no_session(portal: Portal) -> None:
    client = portal.new_client()
    login(client, "jane")
    value = client.cookies.get(SESSION_COOKIE)
    assert value
    client.cookies.set(SESSION_COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_session_key_is_private(portal: Portal) -> None:
    key = session_key_file(portal.settings)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert len(key.read_text().strip()) == 64


def test_a_disabled_account_cannot_sign_in_and_loses_its_sessions(portal: Portal) -> None:
    client = portal.new_client()
    login(client, "vic")
    assert client.get("/", follow_redirects=False).status_code == 200
    disabled = portal.client.post("/api/auth/users/vic/disable", headers=portal.api_headers())
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert client.get("/", follow_redirects=False).status_code == 303
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"user": "vic", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 401 and "disabled" in answer.text
    portal.client.post("/api/auth/users/vic/enable", headers=portal.api_headers())
    assert login(client, "vic").status_code == 303


def test_home_shows_my_services_groups_and_platform_health(portal: Portal) -> None:
    client = portal.new_client()
    login(client, "jane")
    main = _main(client.get("/").text)
    assert 'href="/catalog/default/group/team-a"' in main
    for service in ("Checkout", "payments", "storefront"):
        assert service in main
    assert 'href="/catalog/default/Component/checkout"' in main
    assert "Database" in main and "Deploy reconciler" in main and "Router" in main
    assert "No deployments of your services yet" in main
    login(client, "bob")  # team-b owns nothing
    main = _main(client.get("/").text)
    assert "Nothing in the catalog is owned by you or your groups yet" in main
    assert 'href="/catalog/default/group/team-b"' in main  # from team-b's spec.members
    assert "checkout" not in main.lower()


def test_home_lists_a_failed_deployment_of_my_service_as_needing_attention(
    portal: Portal,
) -> None:
    from goldenpath.deploy import store

    engine = portal.services.engine
    now = portal.services.deploy.clock()
    made = store.create_deployment(
        engine,
        service="payments",
        environment="dev",
        kind="deploy",
        strategy="rolling",
        repo=None,
        ref=None,
        workload={"name": "payments"},
        steps=(),
        triggered_by="user:default/jane",
        now=now,
    )
    with contextlib.suppress(InvalidInput):  # the reconciler may fail it first: same outcome
        store.transition(engine, made.id, "failed", actor="test", reason="the build failed")
    deadline = time.monotonic() + 10
    while store.get_deployment(engine, made.id).state != "failed":
        assert time.monotonic() < deadline, store.get_deployment(engine, made.id)
        time.sleep(0.05)
    client = portal.new_client()
    login(client, "jane")
    main = _main(client.get("/").text)
    assert f"payments in dev: deployment #{made.id} failed" in main
    assert 'href="/catalog/default/component/payments/deployments"' in main
    login(client, "bob")
    assert "payments in dev" not in _main(client.get("/").text)


def test_portal_errors_are_pages_and_api_errors_stay_problems(portal: Portal) -> None:
    client = portal.new_client()
    login(client, "jane")
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "There is no page at /no/such/page" in missing.text and "Jane Doe" in missing.text
    oidc = client.get("/login/oidc")  # a NotFound raised by a portal route
    assert oidc.status_code == 404 and "single sign-on is not configured" in oidc.text
    api = client.get("/api/no/such/route")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    assert client.get("/api/auth/whoami").status_code == 401  # cookies are not API credentials


# --- OpenID Connect against a local provider -------------------------------------------------


class _Provider:
    """A minimal OpenID provider on 127.0.0.1: discovery, JWKS and a token endpoint that
    signs an ID token (RS256) for ``username`` with the nonce of the last authorize URL."""

    def __init__(self) -> None:
        from authlib.jose import JsonWebKey

        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self.nonce = ""
        self.username = "Ada.Lovelace"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def id_token(self) -> str:
        from authlib.jose import jwt

        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "ada-1",
            "aud": "portal",
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
            "preferred_username": self.username,
            "email": "ada@example.com",
        }
        header = {"alg": "RS256", "kid": "k1"}
        return jwt.encode(header, claims, self.key).decode("ascii")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(provider.metadata())
                elif self.path == "/jwks":
                    self._json({"keys": [provider.key.as_dict(is_private=False)]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if self.path != "/token" or form.get("code") != ["the-code"]:
                    self.send_error(400)
                    return
                self._json(
                    {
                        "access_token": "at-1",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(),
                    }
                )

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> _Provider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def oidc_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Portal, _Provider]]:
    with _Provider() as provider:
        oidc = {
            "metadata_url": f"{provider.url}/.well-known/openid-configuration",
            "client_id": "portal",
            "client_secret": "s3cret",
            "label": "Sign in with Local IdP",
        }
        home: Path = tmp_path_factory.mktemp("oidc") / "home"
        with open_portal(home, catalogs=(), users={}, portal={"oidc": oidc}) as running:
            yield running, provider


def test_oidc_with_a_local_provider_signs_in_and_creates_the_account(
    oidc_portal: tuple[Portal, _Provider],
) -> None:
    portal, provider = oidc_portal
    client = portal.new_client()
    page = client.get("/login?next=/%3Fwelcome%3D1")
    assert "Sign in with Local IdP" in page.text and 'href="/login/oidc?next=' in page.text
    start = client.get("/login/oidc", params={"next": "/?welcome=1"}, follow_redirects=False)
    assert start.status_code in (302, 303, 307)
    location = urlparse(start.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.url}/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == "portal" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://testserver/login/oidc/callback"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    provider.nonce = query["nonce"]
    forged = client.get("/login/oidc/callback", params={"code": "the-code", "state": "forged"})
    assert forged.status_code == 401 and "single sign-on failed" in forged.text
    start = client.get("/login/oidc", params={"next": "/?welcome=1"}, follow_redirects=False)
    query = {k: v[0] for k, v in parse_qs(urlparse(start.headers["location"]).query).items()}
    provider.nonce = query["nonce"]
    done = client.get(
        "/login/oidc/callback",
        params={"code": "the-code", "state": query["state"]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/?welcome=1"
    assert client.get("/").status_code == 200
    users = portal.client.get("/api/auth/users", headers=portal.api_headers()).json()["items"]
    ada = next(u for u in users if u["user"] == "user:default/ada.lovelace")
    assert ada["role"] == "member" and ada["hasPassword"] is False and ada["lastLoginAt"]
