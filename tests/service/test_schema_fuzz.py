"""Generated requests against the OpenAPI schema: no 500, no off-schema response.

Runs in process on the ASGI app with a bounded number of examples per operation,
so the whole file takes seconds.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from db.migrate import upgrade_to_head
from velotrain.settings import Settings

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SKIPPED_OPERATIONS: set[str] = set()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz") / "var"
    # Generous submit limits, so that most examples reach the handlers.
    app_settings = Settings(
        data_dir=data_dir,
        reaper_in_api=False,
        submit_rate_per_second=1000,
        submit_burst=1000,
        max_active_jobs_per_project=100_000,
    )
    app_settings.ensure_data_dir()
    upgrade_to_head(app_settings.resolved_database_url)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(app_settings))


def test_every_operation_conforms_to_schema(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        if operation.label not in SKIPPED_OPERATIONS:
            check_operation(operation)
    assert {"POST /jobs", "GET /jobs/{job_id}"} <= {op.label for op in operations}


def check_operation(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        case.call_and_validate(checks=CHECKS)

    run()
