"""The library's layering: finetune/ (a driver's library) never imports transfer/ (another driver's); what
both need lives below them (evaluation/, inference.py, models/, data/)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sentiment_discovery"


def imported_modules(path: Path) -> list[str]:
    """Absolute dotted names of every module `path` imports (relative imports resolved)."""
    package = ["sentiment_discovery", *path.parent.relative_to(PACKAGE).parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_finetune_does_not_import_transfer():
    files = sorted((PACKAGE / "finetune").glob("*.py"))
    assert files
    offending = {f"{path.name}: {name}" for path in files for name in imported_modules(path)
                 if name == "sentiment_discovery.transfer" or name.startswith("sentiment_discovery.transfer.")}
    assert not offending, sorted(offending)


def test_the_scan_sees_relative_imports():
    names = imported_modules(PACKAGE / "finetune" / "evaluation.py")
    assert "sentiment_discovery.inference" in names
    assert "sentiment_discovery.evaluation.metrics" in names
