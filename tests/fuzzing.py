"""Schemathesis over newsdesk's own /openapi.json: generated requests, counted, each checked.

Schemathesis 4 API: `schemathesis.openapi.from_asgi` / `from_url` load the schema,
`operation.as_strategy(mode)` generates cases, `case.call()` sends one, and
`case.validate_response(response, checks=...)` raises a FailureGroup naming what went wrong.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

# What must hold for every response: no 5xx, and a response the schema documents must match it
# (JSON body against its model, declared content type, declared headers).
REQUIRED_CHECKS = ("not_a_server_error", "response_schema_conformance", "content_type_conformance",
                   "response_headers_conformance")


@dataclass
class FuzzReport:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.requests} requests over {len(self.operations)} operations, statuses "
                f"{dict(sorted(self.statuses.items()))}; 5xx: {self.server_errors[:3]}; "
                f"failed checks: {self.failures[:3]}")


def fuzz_app(app, examples_per_operation: int, headers: dict | None = None) -> FuzzReport:
    import schemathesis

    return fuzz_schema(schemathesis.openapi.from_asgi("/openapi.json", app), examples_per_operation,
                       headers)


def fuzz_url(base_url: str, examples_per_operation: int, headers: dict | None = None) -> FuzzReport:
    import schemathesis

    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    return fuzz_schema(schema, examples_per_operation, headers, base_url=base_url)


def fuzz_schema(schema, examples_per_operation: int, headers: dict | None = None,
                base_url: str | None = None) -> FuzzReport:
    """Positive and negative cases for every operation; every failure collected, none shrunk."""
    from schemathesis import GenerationMode
    from schemathesis.checks import load_all_checks
    from schemathesis.core.failures import FailureGroup

    load_all_checks()
    checks = [_check(name) for name in REQUIRED_CHECKS]
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations.append(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=examples_per_operation // 2, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                      derandomize=True)
            @given(case=operation.as_strategy(mode))
            def send(case):
                kwargs = {"base_url": base_url} if base_url else {}
                response = case.call(headers=headers, timeout=120, **kwargs)
                report.requests += 1
                report.statuses[response.status_code] += 1
                label = f"{case.method} {case.formatted_path} -> {response.status_code}"
                if response.status_code >= 500:
                    report.server_errors.append(label)
                try:
                    case.validate_response(response, checks=checks, headers=headers)
                except FailureGroup as group:
                    report.failures.extend(f"{label}: {failure.title}" for failure in group.exceptions)
            try:
                send()
            except Unsatisfiable:  # nothing to get wrong: an operation without parameters or body
                pass
    return report


def _check(name: str):
    from schemathesis.specs.openapi import checks as openapi_checks

    return getattr(openapi_checks, name, None) or getattr(__import__("schemathesis.checks").checks, name)
