"""The simulator stands in for an external service: it must not depend on bazaar's insides."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bazaar.psp

PACKAGE = Path(bazaar.psp.__file__).parent
ALLOWED = ("bazaar.kernel", "bazaar.infra.db", "bazaar.psp")
FORBIDDEN = ("bazaar.contexts", "bazaar.api", "bazaar.bootstrap", "bazaar.settings", "bazaar.cli")


def bazaar_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("bazaar")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bazaar"):
            found.append((node.lineno, node.module or ""))
    return found


class TestIsolation:
    def test_imports_only_the_kernel_and_the_db_layer(self) -> None:
        bad = [
            f"{path.name}:{line} imports {target}"
            for path in sorted(PACKAGE.rglob("*.py"))
            for line, target in bazaar_imports(path)
            if not any(target == a or target.startswith(a + ".") for a in ALLOWED)
        ]
        assert bad == []

    def test_importing_it_loads_none_of_bazaars_contexts_edge_or_settings(self) -> None:
        code = (
            "import sys, bazaar.psp, bazaar.psp.testing; "
            "print('\\n'.join(m for m in sys.modules if m.startswith('bazaar.')))"
        )
        loaded = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        assert [m for m in loaded if m.startswith(FORBIDDEN)] == []
