"""Checking documents and answers against an OpenAPI description, for the contract tests."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.integration.contract_tour import Exchange
from tests.integration.world import World


def escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class Description:
    """An OpenAPI document, its schemas resolvable by JSON pointer."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.registry: Registry = Registry().with_resource(
            "urn:doc", Resource.from_contents(document, default_specification=DRAFT202012)
        )

    def errors(self, pointer: str, instance: Any) -> list[str]:
        validator = Draft202012Validator(
            {"$ref": f"urn:doc#{pointer}"},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)
        ]

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(p, m, op) for p, ops in self.document["paths"].items() for m, op in ops.items()]

    def response(self, path: str, method: str, status: int) -> tuple[str, dict[str, Any]]:
        """The pointer of an operation's declared answer for a status, and the answer."""
        answers = self.document["paths"][path][method]["responses"]
        key = str(status) if str(status) in answers else f"{str(status)[0]}XX"
        assert key in answers, f"{method.upper()} {path} answered {status}, which it does not declare"
        answer = answers[key]
        pointer = f"/paths/{escape(path)}/{method}/responses/{key}"
        if "$ref" in answer:
            pointer = answer["$ref"][1:]
            answer = self.document["components"]["responses"][pointer.split("/")[-1]]
        return pointer, answer

    def examples(self) -> list[tuple[str, Any]]:
        """(pointer of the schema, example) for every example the description carries."""
        found = []
        for path, method, op in self.operations():
            base = f"/paths/{escape(path)}/{method}"
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                if "example" in content:
                    found.append((f"{base}/requestBody/content/{escape(media)}/schema", content["example"]))
            for status, answer in op["responses"].items():
                if "$ref" in answer:
                    continue
                for media, content in answer.get("content", {}).items():
                    if "example" in content:
                        found.append(
                            (f"{base}/responses/{status}/content/{escape(media)}/schema", content["example"])
                        )
        for status, answer in self.document["components"].get("responses", {}).items():
            for media, content in answer["content"].items():
                found.append(
                    (f"/components/responses/{status}/content/{escape(media)}/schema", content["example"])
                )
        return found


def gateway_description_of(world: World) -> Description:
    return Description(world.client.get("/openapi.json").json())


def payer_description_of(world: World) -> Description:
    return Description(world.client.get("/openapi/payer.json").json())


def check_live(description: Description, exchanges: list[Exchange]) -> None:
    failures = []
    for e in exchanges:
        pointer, answer = description.response(e.path, e.method, e.status)
        content = answer.get("content", {})
        assert e.media in content, f"{e.method.upper()} {e.path} {e.status}: {e.media} is not declared"
        if e.media.endswith("json"):
            errors = description.errors(f"{pointer}/content/{escape(e.media)}/schema", e.body)
            if errors:
                failures.append(f"{e.method.upper()} {e.path} {e.status}: {errors[:3]}")
        for header in ("location", "idempotency-replayed"):
            if header in e.headers:
                declared = {h.lower() for h in answer.get("headers", {})}
                assert header in declared, f"{e.method.upper()} {e.path} {e.status} sets {header}"
    assert failures == []
