"""The package's import graph has no circle: read from the source with ast, every import counted, lazy ones too."""

import ast

import pytest
from conftest import REPO

PACKAGE = REPO / "ddnn_tf"


def _module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path, name, modules):
    """The ddnn_tf modules ``path`` (module ``name``) imports, wherever in the file the import stands.

    ``from package import module`` is an arrow to the module, not the package, and
    a package above ``name`` is no arrow: Python runs it before ``name`` anyway.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules.keys()
            found |= submodules | ({base} if len(submodules) < len(node.names) else set())
    return {target for target in found if not name.startswith(target + ".")}


def _graph(key):
    """Arrows between the keys (``key(module name)``) of ddnn_tf's modules; none from a key to itself."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py") if "node_modules" not in path.parts}
    arrows = {}
    for name, path in modules.items():
        targets = {key(target) for target in _imported(path, name, modules) if target in modules}
        arrows[key(name)] = arrows.get(key(name), set()) | (targets - {key(name)})
    return arrows


def _a_circle(arrows):
    """One circle as a list of keys, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(arrows.get(node, ())):
            if state.get(target) == "open":
                return trail[trail.index(target):] + [target]
            if target not in state and (circle := visit(target, trail + [target])):
                return circle
        state[node] = "done"
        return None

    for start in sorted(arrows):
        if start not in state and (circle := visit(start, [start])):
            return circle
    return None


def _room(name):
    """The folder a module lives in (ddnn_tf.data, ...), or the module itself at the top level."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else name


@pytest.mark.parametrize("key", [_room, lambda name: name], ids=["rooms", "modules"])
def test_the_import_graph_has_no_circle(key):
    arrows = _graph(key)
    assert len(arrows) > 10, "the package's modules were found"
    circle = _a_circle(arrows)
    assert circle is None, "imports run in a circle: " + " -> ".join(circle)


def test_a_circle_is_found_where_there_is_one():
    assert _a_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_circle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_data_path_runs_one_way():
    """data -> models -> training -> export: no stage imports a later one, so each can be used without the next."""
    arrows = _graph(_room)
    order = ["ddnn_tf.data", "ddnn_tf.models", "ddnn_tf.training", "ddnn_tf.export"]
    backwards = [(a, b) for i, a in enumerate(order) for b in order[i + 1:] if b in arrows[a]]
    assert not backwards, f"an earlier stage imports a later one: {backwards}"


def test_every_package_of_the_source_is_installed():
    """pyproject.toml lists the packages by name: a new folder left out would be missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {_module_name(path) for path in PACKAGE.rglob("__init__.py") if "node_modules" not in path.parts}
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
