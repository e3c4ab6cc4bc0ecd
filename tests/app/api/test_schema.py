"""schemathesis over the whole OpenAPI schema, in-process, as admin and as viewer: no request
the schema allows (or nearly allows) makes the server fail, and every answer matches the schema
— status code, content type and body."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from repoclimate.app.users import Role
from tests.app.api.conftest import World

MAX_EXAMPLES = 15
"""Per operation and role: ~20 operations × 2 roles stay well under a minute."""


@pytest.fixture
def api_schema(world: World) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", world.app)


schema = schemathesis.pytest.from_fixture("api_schema")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _call(case: schemathesis.Case, world: World, role: Role, known: bool) -> None:
    """Call with ``role``'s token; with ``known``, path parameters name things that exist (random
    ids mostly meet 404 and never reach the code behind it)."""
    if known and case.path_parameters:
        existing = {
            "site_id": "city",
            "room_id": "stack-1",
            "sensor_id": "s1",
            "alert_id": world.firing_id,
            "silence_id": 1,
        }
        for name in case.path_parameters:
            if name in existing:
                case.path_parameters[name] = existing[name]
    case.call_and_validate(headers={"Authorization": f"Bearer {world.tokens[role]}"}, checks=CHECKS)


@schema.parametrize()
@schema.given(known=st.booleans())
@FUZZ
def test_api_conforms_to_its_schema_as_admin(
    case: schemathesis.Case, known: bool, world: World
) -> None:
    _call(case, world, Role.ADMIN, known)


@schema.parametrize()
@schema.given(known=st.booleans())
@FUZZ
def test_api_conforms_to_its_schema_as_viewer(
    case: schemathesis.Case, known: bool, world: World
) -> None:
    _call(case, world, Role.VIEWER, known)
