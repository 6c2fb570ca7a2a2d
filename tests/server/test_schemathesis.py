"""Property-based API tests from the OpenAPI schema (schemathesis): for generated requests
to every operation, no 5xx and every answer conforms to the schema. Skips without
schemathesis. Examples per operation are kept small so the test stays quick."""

from __future__ import annotations

from typing import Any

import pytest
from tests.server.builders import make_twin

schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    twin = make_twin(f"sqlite:///{tmp_path_factory.mktemp('st') / 'st.db'}")
    return schemathesis.openapi.from_asgi("/openapi.json", twin.app), twin


def test_no_server_errors_and_schema_conformance(api: Any) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema, twin = api
    # live twins build a whole cluster per call: covered by test_twins.py, not fuzzed here
    ops = [op for op in schema.get_all_operations() if "/twins" not in op.ok().path]
    failures = []
    for result in ops:
        op = result.ok()

        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: Any) -> None:
            case.headers = {**(case.headers or {}), **twin.as_("alice")}
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error,
                                                     response_schema_conformance])

        try:
            check()
        except Exception as exc:  # collect all operations' failures, report them together
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:300]}")
    assert not failures, "\n".join(failures)
