"""The layout of the package, read from its imports (no module is run).

The single-user extension never imports the hub service, and the service needs only the
extension's shared vocabulary. Inside `jupyter_usage/hub/` each wing imports only itself
and the wings below it, so there is no import cycle and no import hidden in a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_usage"

SHARED_WITH_THE_HUB = {"records", "hubclient", "traits", "currencies", "cost", "ledger", "_version"}
"""What the hub service may import of the extension (`_version`: the package's version;
`cost` and `ledger`: the service prices sessions with the servers' own `CostModel`)."""

HUB_PLUGINS = {"jupyter_usage.tljh_plugin": {"jupyter_usage.hub.budgets"}}
"""Modules outside the hub service that configure a hub, and the only part of the service
each may name: the spawn hooks' public package. They are not the single-user extension."""

WINGS = ("periods", "db", "intake", "kpis", "budgets", "report", "handlers")
"""Lowest first; a module of a wing imports only from its own wing and those before it.
The service's wiring (service.py, cli.py, __main__.py) sits above them all."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(name: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) of every import in `name`'s module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:
        # `if TYPE_CHECKING:` imports count as module level: they are read by mypy.
        if isinstance(node, ast.If):
            top_level.update(id(child) for child in node.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "jupyter_usage" or target.startswith("jupyter_usage."):
                found.append((target, node.lineno, id(node) in top_level))
    return found


def in_hub(name: str) -> bool:
    return name == "jupyter_usage.hub" or name.startswith("jupyter_usage.hub.")


def wing(name: str) -> int:
    """Rank of a module of jupyter_usage.hub: its wing's place in WINGS, or above them."""
    parts = name.split(".")
    if len(parts) > 2 and parts[2] in WINGS:
        return WINGS.index(parts[2])
    return len(WINGS)


HUB = sorted(name for name in MODULES if in_hub(name))
EXTENSION = sorted(name for name in MODULES if not in_hub(name) and name not in HUB_PLUGINS)


def test_the_wings_are_the_documented_ones() -> None:
    packages = {p.name for p in (PACKAGE / "hub").iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(WINGS) - {"periods"}
    assert (PACKAGE / "hub" / "periods.py").is_file()
    for name in HUB:
        if MODULES[name].name == "__init__.py" and name.count(".") == 2:
            docstring = ast.get_docstring(ast.parse(MODULES[name].read_text()))
            assert docstring, f"{name} says what it owns"


@pytest.mark.parametrize("name", EXTENSION)
def test_the_extension_never_imports_the_hub_service(name: str) -> None:
    for target, line, _ in imports(name):
        assert not in_hub(target), f"{name}:{line} imports {target}"


@pytest.mark.parametrize("name", sorted(HUB_PLUGINS))
def test_a_hub_plugin_names_only_the_spawn_hooks_of_the_hub_service(name: str) -> None:
    assert name in MODULES
    for target, line, _ in imports(name):
        if in_hub(target):
            assert target in HUB_PLUGINS[name], f"{name}:{line} imports {target}"


@pytest.mark.parametrize("name", HUB)
def test_the_hub_service_imports_only_the_shared_vocabulary(name: str) -> None:
    for target, line, _ in imports(name):
        if not in_hub(target):
            shared = target.split(".")[1] if "." in target else ""
            assert shared in SHARED_WITH_THE_HUB, f"{name}:{line} imports {target}"


@pytest.mark.parametrize("name", HUB)
def test_a_wing_imports_only_itself_and_the_wings_below(name: str) -> None:
    for target, line, _ in imports(name):
        if in_hub(target):
            assert wing(target) <= wing(name), f"{name}:{line} imports {target}, a higher wing"


@pytest.mark.parametrize("name", HUB)
def test_no_import_hides_in_a_function(name: str) -> None:
    if name == "jupyter_usage.hub.__main__":
        return  # each command loads only what it runs: `import` needs no tornado
    for target, line, top_level in imports(name):
        if in_hub(target):
            assert top_level, f"{name}:{line} imports {target} inside a function"


def test_the_hub_service_has_no_import_cycle() -> None:
    graph = {name: {t for t, _, _ in imports(name) if t in MODULES and in_hub(t)} for name in HUB}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in HUB:
        visit(name, [])
