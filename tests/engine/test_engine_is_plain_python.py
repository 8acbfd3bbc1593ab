import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "apps" / "engine"


def test_no_engine_module_imports_django_or_other_apps():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if n.split(".")[0] in {"django", "rest_framework", "channels", "celery"}
                or (n.startswith("apps.") and not n.startswith("apps.engine"))
            ]
    assert offenders == []
