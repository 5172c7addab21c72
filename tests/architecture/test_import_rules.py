"""The dependency rule of conventions.md, enforced on the import statements of src/bazaar."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import pytest

import bazaar

SRC = Path(bazaar.__file__).parent


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        module = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append(Import(module, node.module, node.lineno))
    return found


IMPORTS = all_imports()


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(importer_package: str, allowed: tuple[str, ...]) -> list[str]:
    """Imports of bazaar modules from ``importer_package`` that are outside ``allowed``."""
    bad = []
    for imp in IMPORTS:
        if not in_package(imp.module, importer_package) or not in_package(imp.target, "bazaar"):
            continue
        if not any(in_package(imp.target, ok) for ok in allowed):
            bad.append(f"{imp.module}:{imp.line} imports {imp.target}")
    return bad


def context_names() -> list[str]:
    contexts = SRC / "contexts"
    return sorted(p.name for p in contexts.iterdir() if (p / "__init__.py").exists())


class TestDependencyRule:
    def test_kernel_imports_only_the_kernel(self) -> None:
        assert violations("bazaar.kernel", ("bazaar.kernel",)) == []

    def test_kernel_blocks_never_import_prometheus(self) -> None:
        bad = [
            f"{i.module}:{i.line}"
            for i in IMPORTS
            if in_package(i.module, "bazaar.kernel")
            and not in_package(i.module, "bazaar.kernel.observability")
            and in_package(i.target, "prometheus_client")
        ]
        assert bad == []

    def test_only_the_observability_kit_assembles_the_opentelemetry_sdk(self) -> None:
        # Instrumented code depends on the OpenTelemetry API; provider, sampler and
        # exporters are built in one place (docs/observability.md).
        bad = [
            f"{i.module}:{i.line}"
            for i in IMPORTS
            if not in_package(i.module, "bazaar.kernel.observability")
            and (
                in_package(i.target, "opentelemetry.sdk")
                or in_package(i.target, "opentelemetry.exporter")
            )
        ]
        assert bad == []

    def test_the_psp_simulator_imports_only_the_kernel_and_the_db_layer(self) -> None:
        # It stands in for an external provider: it must stay separable from bazaar.
        assert violations("bazaar.psp", ("bazaar.psp", "bazaar.kernel", "bazaar.infra.db")) == []

    def test_infra_does_not_import_contexts_or_the_edge(self) -> None:
        assert violations("bazaar.infra", ("bazaar.infra", "bazaar.kernel")) == []

    @pytest.mark.parametrize("context", context_names())
    def test_a_context_uses_other_contexts_only_through_their_facade(self, context: str) -> None:
        own = f"bazaar.contexts.{context}"
        bad = []
        for imp in IMPORTS:
            if not in_package(imp.module, own) or not in_package(imp.target, "bazaar.contexts"):
                continue
            if in_package(imp.target, own) or imp.target == "bazaar.contexts":
                continue
            facade = ".".join(imp.target.split(".")[:3])
            if imp.target != facade:
                bad.append(f"{imp.module}:{imp.line} reaches into {imp.target}")
        assert bad == []

    @pytest.mark.parametrize("context", context_names())
    def test_a_context_never_imports_the_edge(self, context: str) -> None:
        own = f"bazaar.contexts.{context}"
        edge = ("bazaar.api", "bazaar.cli", "bazaar.bootstrap", "bazaar.tour", "bazaar.settings")
        bad = [
            f"{i.module}:{i.line} imports {i.target}"
            for i in IMPORTS
            if in_package(i.module, own)
            # the context's own HTTP layer may use the API edge's problem helpers
            and not in_package(i.module, own + ".api")
            and any(in_package(i.target, e) for e in edge)
        ]
        assert bad == []

    @pytest.mark.parametrize("context", context_names())
    def test_a_domain_model_does_no_io(self, context: str) -> None:
        domain = f"bazaar.contexts.{context}.domain"
        io_modules = (
            "sqlalchemy",
            "fastapi",
            "starlette",
            "httpx",
            "redis",
            "asyncpg",
            "aiosqlite",
        )
        bad = [
            f"{i.module}:{i.line} imports {i.target}"
            for i in IMPORTS
            if in_package(i.module, domain)
            and (
                any(in_package(i.target, m) for m in io_modules)
                or (in_package(i.target, "bazaar") and not in_package(i.target, "bazaar.kernel")
                    and not in_package(i.target, f"bazaar.contexts.{context}.domain"))
            )
        ]  # fmt: skip
        assert bad == []

    def test_only_the_composition_root_and_the_edge_import_bootstrap(self) -> None:
        allowed = ("bazaar.api", "bazaar.cli", "bazaar.testing", "bazaar.bootstrap")
        bad = [
            f"{i.module}:{i.line}"
            for i in IMPORTS
            if i.target == "bazaar.bootstrap" and not any(in_package(i.module, a) for a in allowed)
        ]
        assert bad == []


def packages() -> list[str]:
    names = ["bazaar"]
    for info in pkgutil.walk_packages([str(SRC)], prefix="bazaar."):
        if info.ispkg and ".migrations" not in info.name:
            names.append(info.name)
    return names


class TestPublicSurface:
    @pytest.mark.parametrize("package", packages())
    def test_every_package_declares_a_complete_all(self, package: str) -> None:
        module = importlib.import_module(package)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{package} has no __all__"
        missing = [name for name in exported if not hasattr(module, name)]
        assert missing == []
