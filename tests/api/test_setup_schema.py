"""GET /v1/setup/schema (public, like /docs) and / leading to the docs."""

from pathlib import Path

import jsonschema
import yaml

from meterbill.api.app import HOME
from meterbill.core.setup_schema import setup_schema
from tests.api.support import TestClient, json_object

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "warpstream-like.yaml"


def test_the_setup_schema_is_served_without_a_key(client: TestClient) -> None:
    response = client.get("/v1/setup/schema")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    served = json_object(response)
    assert served == setup_schema()
    validator = jsonschema.Draft202012Validator(served)
    assert validator.is_valid(yaml.safe_load(EXAMPLE.read_text()))
    assert not validator.is_valid({"meters": [{"key": "Bad Key"}]})


def test_the_schema_is_in_the_openapi_document(client: TestClient) -> None:
    paths = json_object(client.get("/openapi.json"))["paths"]
    assert "get" in paths["/v1/setup/schema"]
    assert "security" not in paths["/v1/setup/schema"]["get"]


def test_the_root_leads_to_the_console(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == HOME == "/console"
    # Without a key: the console's sign-in form, which links the API docs.
    followed = client.get("/")
    assert followed.status_code == 401
    assert 'action="/dashboard/login"' in followed.text
    assert 'href="/docs"' in followed.text
    assert "swagger" in client.get("/docs").text.lower()
