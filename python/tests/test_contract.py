"""Every operation of openapi.yaml called with real values from the live store, each response validated against its
schema by schemathesis (status, content type, body). The fuzzing side (random values, no 5xx) is `st run`, driven by
Tests/ServerTests."""
import httpx
import pytest
import schemathesis


@pytest.fixture(scope="module")
def schema(server_url, token):
    return schemathesis.openapi.from_url(server_url + "/openapi.yaml", headers={"Authorization": f"Bearer {token}"})


def real_cases(server_url, data, headers):
    with httpx.Client(base_url=server_url, headers=headers) as http:
        episode = http.get("/v1/episodes", params={"limit": 1}).json()["items"][0]["name"]
    step = {"episode": episode, "index": 2}
    return [
        ("GET /v1/health", {}, None, None),
        ("GET /v1/version", {}, None, None),
        ("GET /v1/store/stats", {}, None, None),
        ("GET /v1/store/verify", {}, None, None),
        ("GET /v1/episodes", {}, {"limit": 2}, None),
        ("GET /v1/episodes/{episode}/steps", {"episode": episode}, {"limit": 3}, None),
        ("GET /v1/episodes/{episode}/steps/{index}", step, None, None),
        ("GET /v1/episodes/{episode}/steps/{index}/arrays/{role}/{name}", dict(step, role="predicted", name="image"), None, None),
        ("POST /v1/search", {}, None, {"like": f"{episode}:2", "k": 3}),
        ("POST /v1/search", {}, None, {"text": "push the red block", "k": 3, "text_encoder": "hashed"}),
        ("POST /v1/export", {}, None, {"out": "contract-export"}),
        ("POST /v1/prune", {}, None, {"keep_last": 1, "dry_run": True}),
        ("POST /v1/predict", {}, None, {"data": data, "sample": "3"}),
        ("POST /v1/runs", {}, None, {"kind": "fork", "from": f"{episode}:1", "actions": ["push it left"], "name": "contract-fork"}),
        ("GET /v1/runs", {}, None, None),
        ("GET /v1/reports/ablation", {}, None, None),
    ]


def test_every_operation_answers_with_its_schema(schema, server_url, data, token):
    headers = {"Authorization": f"Bearer {token}"}
    labels = {op.label for op in (result.ok() for result in schema.get_all_operations())}
    cases = real_cases(server_url, data, headers)
    run_id = None
    for label, path, query, body in cases:
        operation = schema.find_operation_by_label(label)
        kwargs = {"path_parameters": path, "query": query, "headers": headers}
        if body is not None:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        response = operation.Case(**kwargs).call_and_validate(base_url=server_url)
        assert response.status_code in (200, 202), (label, response.status_code, response.text)
        if label == "POST /v1/runs":
            run_id = response.json()["id"]
    for label in ("GET /v1/runs/{id}", "GET /v1/runs/{id}/trace", "POST /v1/runs/{id}/cancel"):
        response = schema.find_operation_by_label(label).Case(path_parameters={"id": run_id}, headers=headers).call_and_validate(base_url=server_url)
        assert response.status_code == 200, (label, response.text)
    covered = {c[0] for c in cases} | {"GET /v1/runs/{id}", "GET /v1/runs/{id}/trace", "POST /v1/runs/{id}/cancel"}
    assert covered == labels, labels ^ covered
