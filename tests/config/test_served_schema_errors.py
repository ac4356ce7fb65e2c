"""The schema as served at /api/schema/ documents every operation's 4xx answers, each with
the one Error component (an operator read it there and found none)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/Error"
WRITES = ("post", "put", "patch", "delete")


@pytest.fixture
def served(client) -> dict[str, Any]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_served_operation_lists_its_4xx_answers_with_the_error_component(served):
    operations = [
        (path, method, operation)
        for path, item in served["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) > 15
    for path, method, operation in operations:
        statuses = set(operation["responses"])
        expected = {"400", "401"}
        if "{" in path:
            expected.add("404")
        if method in WRITES and path != "/api/auth/token":
            expected.add("403")
        assert expected <= statuses, (method, path, sorted(statuses))
        for status in statuses:
            if 400 <= int(status) < 500:
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": ERROR_REF}, (method, path, status)
