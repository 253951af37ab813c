"""The library's layering: the scripts call drivers/ (one run per script), the drivers call the library, and
nothing below drivers/ imports a driver; finetune/ (one driver's library) never imports transfer/ (another
driver's): what both need lives below them (evaluation/, inference.py, models/, data/)."""
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


def test_nothing_outside_drivers_imports_a_driver():
    files = sorted(path for path in PACKAGE.rglob("*.py") if "drivers" not in path.relative_to(PACKAGE).parts)
    assert len(files) > 50
    offending = {f"{path.relative_to(PACKAGE)}: {name}" for path in files for name in imported_modules(path)
                 if name == "sentiment_discovery.drivers" or name.startswith("sentiment_discovery.drivers.")}
    assert not offending, sorted(offending)


def test_each_script_has_its_driver():
    scripts = {"pretrain", "transfer", "finetune", "classify", "generate", "threshold"}
    assert {path.stem for path in (PACKAGE / "drivers").glob("*.py")} == scripts | {"__init__"}


def test_the_scan_sees_relative_imports():
    names = imported_modules(PACKAGE / "finetune" / "validation.py")
    assert "sentiment_discovery.inference" in names
    assert "sentiment_discovery.evaluation.metrics" in names
    names = imported_modules(PACKAGE / "drivers" / "classify.py")
    assert "sentiment_discovery.classification.classify_to_files" in names
