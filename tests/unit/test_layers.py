"""The layer contract (docs/architecture.md, "Layers"): every import of the product points down.

Imports are read from the source (``ast``), those inside functions too, so a lazy import cannot
slip an upward dependency past the check. Each module belongs to the layer of its longest
matching prefix in ``LAYERS``; it may import its own layer and the layers below, with two
further rules: the adapters' SDK imports nothing of the product, and nothing imports the
sandbox.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "adapters", "reconciliation", "schemas", "examples", "ltc_gateway", "sandbox")

# low → high; a module may import its own layer and those below it
LAYERS: dict[str, int] = {
    # 0: the pure core: values and functions, no I/O
    "gateway": 0,  # the package itself (its version)
    "gateway.errors": 0,
    "gateway.parsing": 0,  # reading a request document against its schema and model
    "gateway.config": 0,
    "gateway.environment": 0,
    "gateway.domain": 0,
    "gateway.coordination": 0,
    "reconciliation.matching": 0,
    "adapters.sdk": 0,
    "adapters.sdk_totals": 0,  # the SDK's part for reconciliation's two levels
    "schemas": 0,
    "examples": 0,
    # 1: the payer adapters (transports), on the SDK and the core
    "adapters": 1,
    # 2: reference data, the settlement ledger, storage, the audit trail
    "gateway.storage": 2,
    "gateway.reference": 2,
    "gateway.ledger": 2,
    "gateway.audit": 2,
    "gateway.audit_checkpoints": 2,
    "gateway.observability": 2,
    "gateway.asgi_middleware": 2,  # the head of every middleware (observability's and the API's)
    "gateway.bootstrap": 2,
    "gateway.preflight": 2,
    # 3: the fan-out
    "gateway.orchestration": 3,
    # 4: the use cases
    "gateway.services": 4,
    "gateway.documents": 4,
    "gateway.simulation": 4,
    "gateway.render": 4,
    # 5: the gateway's entrypoints
    "gateway.api": 5,
    # 6: reconciliation sits above the gateway, never below
    "reconciliation": 6,
    # 7: the composition root: the assembled HTTP app, the CLI, the scheduler
    "ltc_gateway": 7,
    "ltc_gateway.portal": 7,  # the provider portal: reuses the staff console's sessions (layer 6)
    # 8: the sandbox payers, the night generator and the demo: apart, nothing imports them
    "ltc_sandbox": 8,
}
SANDBOX = "ltc_sandbox"
SDK = "adapters.sdk"


def layer_of(module: str) -> tuple[str, int] | None:
    """The longest prefix of ``module`` in LAYERS, and its layer; None outside the product."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return prefix, LAYERS[prefix]
    return None


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[0] == "sandbox":  # the sandbox distribution's own folder
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the tree, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                keep = len(base) - node.level + (1 if is_package else 0)
                target = ".".join([*base[:keep], *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from gateway import audit` imports gateway.audit
                yield node.lineno, f"{target}.{alias.name}"


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Why the imports of ``module`` (given as source text) break the layer contract."""
    own = layer_of(module)
    if own is None:
        return []
    own_prefix, own_layer = own
    found: dict[int, str] = {}  # one finding a line: `from a import b` names a and a.b
    for line, target in imported(ast.parse(source), module, is_package):
        if line in found:
            continue
        theirs = layer_of(target)
        if theirs is None:
            continue  # the standard library or a third-party package
        prefix, their_layer = theirs
        if prefix == SANDBOX and own_prefix != SANDBOX:
            found[line] = f"{module}:{line} imports {target}: nothing imports the sandbox"
        elif own_prefix == SDK and prefix != SDK:
            found[line] = (
                f"{module}:{line} imports {target}: the adapters' SDK imports nothing of the product"
            )
        elif their_layer > own_layer:
            found[line] = (
                f"{module}:{line} imports {target} ({prefix}, layer {their_layer})"
                f" from layer {own_layer} ({own_prefix})"
            )
    return list(found.values())


def product_modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or "tests" in path.parts:
                continue
            yield module_name(path), path


def test_every_import_of_the_product_points_down_the_layers() -> None:
    found = [
        v
        for module, path in product_modules()
        for v in violations(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")
    ]
    assert found == []


def test_every_module_of_the_product_has_a_layer() -> None:
    assert [m for m, _ in product_modules() if layer_of(m) is None] == []


@pytest.mark.parametrize(
    ("module", "source", "why"),
    [
        ("gateway.orchestration.moves", "from gateway.services.claims import accept", "layer 4"),
        ("gateway.domain.claims", "import gateway.storage.tables", "layer 2"),
        ("gateway.coordination.engine", "def f():\n    from gateway.api import app\n", "layer 5"),
        ("gateway.ledger", "from reconciliation import queue", "layer 6"),
        ("gateway.api.v1", "from reconciliation.api import routes", "layer 6"),
        ("adapters.rest", "from gateway.orchestration import worker", "layer 3"),
        ("adapters.sdk", "from gateway.domain.claims import ClaimLine", "nothing of the product"),
        ("reconciliation.run", "from ltc_gateway.cli import main", "layer 7"),
        ("ltc_gateway.cli.main", "from ltc_sandbox import demo", "nothing imports the sandbox"),
        ("gateway.services.claims", "from ..api import endpoint", "layer 5"),
    ],
)
def test_an_upward_import_is_named(module: str, source: str, why: str) -> None:
    found = violations(module, source)
    assert len(found) == 1 and why in found[0], found


def test_imports_that_point_down_or_sideways_pass() -> None:
    assert (
        violations("gateway.api.v1", "from gateway.services import claims\nfrom gateway import audit") == []
    )
    assert violations("reconciliation.run", "from gateway.ledger import expected") == []
    assert violations("ltc_sandbox.payer", "from reconciliation.queue import resolve") == []
    assert violations("gateway.orchestration.moves", "from . import planning", is_package=False) == []
