"""Schemathesis over newsdesk's own /openapi.json: generated requests, counted, each checked.

Schemathesis 4 API: `schemathesis.openapi.from_asgi` / `from_url` load the schema,
`operation.as_strategy(mode)` generates cases, `case.call()` sends one, and
`case.validate_response(response, checks=...)` raises a FailureGroup naming what went wrong.

Besides schemathesis's own cases, a hostile pass takes valid JSON bodies and puts, in one place
each, what Python's json module accepts but JSON text does not (NaN, Infinity, 1e400) or text that
cannot be UTF-8 (lone surrogates, escaped or raw): each must get a 4xx, never a 5xx. Every
response of every pass must carry the safety headers.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

# What must hold for every response: no 5xx, and a response the schema documents must match it
# (JSON body against its model, declared content type, declared headers).
REQUIRED_CHECKS = ("not_a_server_error", "response_schema_conformance", "content_type_conformance",
                   "response_headers_conformance")
SAFETY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")
NON_FINITE = (float("nan"), float("inf"), float("-inf"), "1e400")  # the string: written as a number
SURROGATES = ("\ud800", "treaty \udfff", "\udc00\ud83d")


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

    # as http://localhost: schemathesis's default Host, `testserver`, is one newsdesk refuses
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Host": "localhost"})
    return fuzz_schema(schema, examples_per_operation, headers, base_url="http://localhost")


def fuzz_url(base_url: str, examples_per_operation: int, headers: dict | None = None) -> FuzzReport:
    import schemathesis

    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    return fuzz_schema(schema, examples_per_operation, headers, base_url=base_url)


def fuzz_schema(schema, examples_per_operation: int, headers: dict | None = None,
                base_url: str | None = None) -> FuzzReport:
    """Positive and negative cases for every operation; every failure collected, none shrunk."""
    from schemathesis import GenerationMode
    from schemathesis.checks import load_all_checks

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
                _judge(report, case, response, checks, headers)
            try:
                send()
            except Unsatisfiable:  # nothing to get wrong: an operation without parameters or body
                pass
        _hostile_pass(report, operation, examples_per_operation, checks, headers, base_url)
    return report


def _judge(report: FuzzReport, case, response, checks, headers, refused: bool = False) -> None:
    from schemathesis.core.failures import FailureGroup

    report.requests += 1
    report.statuses[response.status_code] += 1
    label = f"{case.method} {case.formatted_path} -> {response.status_code}"
    if response.status_code >= 500:
        report.server_errors.append(label)
    missing = [name for name in SAFETY_HEADERS if name not in response.headers]
    if missing:
        report.failures.append(f"{label}: no {', '.join(missing)}")
    if refused and not 400 <= response.status_code < 500:
        report.failures.append(f"{label}: a body that is not JSON text was not refused")
    try:
        case.validate_response(response, checks=checks, headers=headers)
    except FailureGroup as group:
        report.failures.extend(f"{label}: {failure.title}" for failure in group.exceptions)


def _hostile_pass(report: FuzzReport, operation, examples: int, checks, headers, base_url) -> None:
    """Valid bodies with one value made NaN, Infinity, 1e400 or a lone surrogate."""
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    if not operation.body:
        return
    hostile = st.sampled_from([*NON_FINITE, *SURROGATES])

    @settings(max_examples=max(examples // 4, 4), deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(case=operation.as_strategy(GenerationMode.POSITIVE), value=hostile, where=st.integers(0, 999),
           raw=st.booleans())
    def send(case, value, where, raw):
        if case.media_type == "application/x-www-form-urlencoded":
            if isinstance(value, float) or not isinstance(case.body, dict) or not case.body:
                return
            fields = dict(case.body)
            fields[sorted(fields)[where % len(fields)]] = value
            body = urlencode(fields, doseq=True, encoding="utf-8", errors="surrogatepass").encode()
            refused = False  # a form's undecodable bytes become U+FFFD: harmless, so any 2xx/4xx
        elif case.media_type == "application/json":
            body = _json_text(_with_leaf(case.body, value, where), raw)
            refused = True
        else:
            return
        hostile_case = operation.Case(path_parameters=case.path_parameters, query=case.query,
                                      body=body, media_type=case.media_type)
        kwargs = {"base_url": base_url} if base_url else {}
        response = hostile_case.call(headers={**(headers or {}), "content-type": case.media_type},
                                     timeout=120, **kwargs)
        _judge(report, hostile_case, response, checks, headers, refused=refused)
    send()


def _with_leaf(body, value, where: int):
    """The body with its where-th leaf (mod their number) replaced; the whole body when it has none."""
    leaves: list[tuple[object, object]] = []

    def walk(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            if isinstance(child, (dict, list)) and child:
                walk(child)
            else:
                leaves.append((node, key))
    copy = json.loads(json.dumps(body))
    walk(copy)
    if not leaves:
        return value
    parent, key = leaves[where % len(leaves)]
    parent[key] = value
    return copy


def _json_text(body, raw: bool) -> bytes:
    """JSON as Python writes it (NaN, Infinity; surrogates as \\u escapes, or as raw bytes when raw)."""
    text = json.dumps(body, ensure_ascii=not raw).replace('"1e400"', "1e400")
    return text.encode("utf-8", "surrogatepass")


def _check(name: str):
    from schemathesis.specs.openapi import checks as openapi_checks

    return getattr(openapi_checks, name, None) or getattr(__import__("schemathesis.checks").checks, name)
