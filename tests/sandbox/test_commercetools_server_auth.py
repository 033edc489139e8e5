"""The commercetools sandbox's OAuth token endpoint and API scopes, over real HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox

pytestmark = pytest.mark.slow


def request_token(
    sandbox: CommercetoolsSandbox, secret: str | None = None, **form: str
) -> httpx.Response:
    """A client-credentials token request with HTTP Basic credentials (the sandbox's own
    secret unless `secret` is given)."""
    return httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials", **form},
        auth=(sandbox.client_id, secret or sandbox.client_secret),
    )


# -- OAuth -------------------------------------------------------------------------------


def test_token_with_http_basic_credentials_grants_api_access(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    response = request_token(sandbox)
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 172800
    assert token["scope"] == f"manage_project:{sandbox.project_key}"
    assert "refresh_token" not in token
    api = httpx.get(
        f"{sandbox.api_url}/{sandbox.project_key}/customers",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert api.status_code == 200
    assert api.json()["results"] == []


def test_token_scope_from_form_body_is_honoured(fresh_commercetools: CommercetoolsSandbox) -> None:
    sandbox = fresh_commercetools
    scope = f"view_customers:{sandbox.project_key} view_orders:{sandbox.project_key}"
    response = request_token(sandbox, scope=scope)
    assert response.status_code == 200
    assert response.json()["scope"] == scope


def test_token_with_secret_in_body_and_no_basic_auth_is_rejected(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    response = httpx.post(
        sandbox.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    assert response.status_code == 401
    body = response.json()
    assert body["statusCode"] == 401
    assert body["errors"][0]["code"] == "invalid_client"
    assert body["error"] == "invalid_client"


def test_token_with_wrong_secret_is_rejected_without_echoing_it(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    sandbox = fresh_commercetools
    wrong = "not-the-secret-" + uuid.uuid4().hex
    response = request_token(sandbox, secret=wrong)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "invalid_client"
    assert wrong not in response.text
    assert sandbox.client_secret not in response.text


def test_api_without_or_with_unknown_token_is_401_invalid_token(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    url = f"{fresh_commercetools.api_url}/{fresh_commercetools.project_key}/customers"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["code"] == "invalid_token"
    assert missing.json()["error"] == "invalid_token"
    unknown = httpx.get(url, headers={"Authorization": "Bearer bm90LWEtdG9rZW4="})
    assert unknown.status_code == 401
    assert unknown.json() == {
        "statusCode": 401,
        "message": "invalid_token",
        "errors": [{"code": "invalid_token", "message": "invalid_token"}],
        "error": "invalid_token",
    }


# -- scopes --------------------------------------------------------------------------------


def scoped_client(sandbox: CommercetoolsSandbox, *scopes: str) -> httpx.Client:
    key = sandbox.project_key
    token = sandbox.token(" ".join(f"{scope}:{key}" for scope in scopes))
    return httpx.Client(
        base_url=f"{sandbox.api_url}/{key}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


def test_scopes_limit_what_a_token_may_do(fresh_commercetools: CommercetoolsSandbox) -> None:
    key = fresh_commercetools.project_key
    with scoped_client(fresh_commercetools, "view_customers") as viewer:
        assert viewer.get("/customers").status_code == 200
        denied = viewer.get("/orders")
        assert denied.status_code == 403
        expected = f"Insufficient scope. One of the following scopes is missing: view_orders:{key}"
        assert denied.json() == {
            "statusCode": 403,
            "message": expected,
            "errors": [{"code": "insufficient_scope", "message": expected}],
            "error": "insufficient_scope",
        }
        assert viewer.post("/customers", json={"email": "v@example.com"}).status_code == 403
        assert viewer.get("/messages").status_code == 403
    with scoped_client(fresh_commercetools, "manage_customers", "view_orders") as manager:
        assert manager.post("/customers", json={"email": "m@example.com"}).status_code == 201
        assert manager.get("/customers").status_code == 200
        assert manager.get("/customer-groups").status_code == 200
        # view_orders is the deprecated alternative scope of /messages.
        assert manager.get("/messages").json()["count"] == 1
        assert manager.post("/carts", json={"currency": "EUR"}).status_code == 403
    with scoped_client(fresh_commercetools, "view_messages", "view_published_products") as reader:
        assert reader.get("/messages").status_code == 200
        assert reader.get("/product-projections").status_code == 200
        assert reader.get("/customers").status_code == 403
    with fresh_commercetools.client() as admin:
        assert admin.get("/orders").status_code == 200
        other_project = admin.get(f"{fresh_commercetools.api_url}/other-project/customers")
        assert other_project.status_code == 403


def test_token_request_for_another_projects_scope_is_refused(
    fresh_commercetools: CommercetoolsSandbox,
) -> None:
    response = request_token(fresh_commercetools, scope="manage_project:someone-else")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "manage_project:someone-else" in response.json()["message"]
