"""The floors run one way: ``tenants`` (the ground floor) never imports ``recordings`` or
``notifications``, not even inside a function. Imports under ``if TYPE_CHECKING:`` are allowed
(they never run). What a licence change does to recordings is a service of ``recordings``
(``recordings.products``); privacy is ``recordings.privacy``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UPPER_FLOORS = ("recordings", "notifications")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import that can run: at module level, in functions and classes,
    in ``try``/``if`` blocks; not in the body of ``if TYPE_CHECKING:``."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _upward_imports(source: str) -> list[tuple[int, str]]:
    return [
        (line, module)
        for line, module in _imported_modules(ast.parse(source))
        if module.split(".")[0] in UPPER_FLOORS
    ]


def test_tenants_never_imports_recordings_or_notifications() -> None:
    files = sorted((ROOT / "tenants").rglob("*.py"))
    assert len(files) > 10  # the walk found the app
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _upward_imports(path.read_text(encoding="utf-8"))
    ]
    assert not offences, "tenants is the ground floor:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from recordings import lifecycle\n", [(1, "recordings")]),
        ("import notifications.services\n", [(1, "notifications.services")]),
        ("def f():\n    from recordings.models import Recording\n", [(2, "recordings.models")]),
        ("try:\n    import recordings\nexcept ImportError:\n    pass\n", [(2, "recordings")]),
        ("if TYPE_CHECKING:\n    from recordings.models import Recording\n", []),
        (
            "if typing.TYPE_CHECKING:\n    import recordings\nelse:\n    import notifications\n",
            [(4, "notifications")],
        ),
        ("from tenants import services\nfrom . import recordings\nimport recordingsx\n", []),
    ],
)
def test_the_check_sees_hidden_imports(source: str, expected: list[tuple[int, str]]) -> None:
    assert _upward_imports(source) == expected
