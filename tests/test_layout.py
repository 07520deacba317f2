"""The package's shape (issue 19, BUILD.md "Layout"): the library imports nothing from the
pipeline, the lab or the benchmark; the pipeline nothing from the lab or the benchmark; no
module imports, directly or through others, itself (every import counted, also those inside
functions); no module is over 400 lines; no module outside the pipeline's configuration reads
a run configuration as a dict."""

import ast
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tf_introspect"
LIBRARY = (
    "data",
    "models",
    "explainers",
    "targets",
    "methods",
    "callbacks",
    "schedules",
    "calibration",
    "diagnostics",
    "atomic",
    "startup",
)
ENTRY_POINTS = ("main", "experiments", "figures", "report", "explain")


def modules():
    """``{dotted name: path}`` of every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path, known):
    """The package's modules that ``path`` imports (the most specific module each names)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            )
    return {n for n in names if n in known}


def graph():
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}


def layer(name):
    parts = name.split(".")
    if len(parts) == 1:
        return "package"
    top = parts[1]
    if top in LIBRARY:
        return "library"
    if top in ENTRY_POINTS:
        return "entry"
    return top  # pipeline, lab, bench


def test_layers_import_only_downwards():
    allowed = {
        "library": {"library"},
        "pipeline": {"library", "pipeline"},
        "lab": {"library", "pipeline", "lab"},
        "bench": {"library", "pipeline", "lab", "bench"},
    }
    wrong = [
        (name, target)
        for name, targets in graph().items()
        for target in targets
        if layer(name) in allowed
        and layer(target) not in allowed[layer(name)]
        and target != "tf_introspect"
    ]
    assert not wrong, wrong
    # the library's package __init__ re-exports only the library
    assert {layer(t) for t in graph()["tf_introspect"]} <= {"library"}


def test_no_import_circles():
    edges = graph()
    state, stack, circles = {}, [], []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                circles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name)
    # a package's __init__ importing its own submodules is how it re-exports them
    circles = [
        c
        for c in circles
        if not any(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(c, c[1:]))
    ]
    assert not circles, circles


def test_no_module_over_400_lines():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert not long, long


def test_the_run_configuration_is_read_as_attributes():
    """``cfg["..."]`` / ``cfg.get("...")`` nowhere (``cfg``: what the package calls a run
    configuration): a ``RunConfig`` is typed and frozen."""
    pattern = re.compile(r"""\bcfg(\[["']|\.get\(["'])""")
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{i}"
        for path in modules().values()
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, found
