"""Which modules of sentiment_discovery/ a pytest run exercises (by default the fast tier, plain `pytest`).

Runs pytest in this process under a profiler that records every Python function called, then prints, per
module of the package, how many of the functions it defines ran. A module is exercised when one of its
functions ran, or when it defines none and was imported; the others are listed as MISSING and make the
exit status 1.

    PYTHONPATH=$PWD python tests/check_module_coverage.py             # the fast tier
    PYTHONPATH=$PWD python tests/check_module_coverage.py -m ""       # both tiers (any pytest arguments)
"""
import ast
import sys
import threading
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sentiment_discovery"


def function_lines(path):
    """First line (the first decorator's, as in code objects) of each function defined in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {min([node.lineno] + [d.lineno for d in node.decorator_list]) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def main(pytest_args):
    called = set()  # (file, first line) of every code object run: modules, functions, lambdas

    def profile(frame, event, arg):
        if event == "call":
            called.add((frame.f_code.co_filename, frame.f_code.co_firstlineno))

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        status = pytest.main(["-q", "-p", "no:cacheprovider", *pytest_args])
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    ran_by_file = {}
    for filename, line in called:
        ran_by_file.setdefault(filename, set()).add(line)
    missing, total, total_ran = [], 0, 0
    for path in sorted(PACKAGE.rglob("*.py")):
        defined, ran = function_lines(path), ran_by_file.get(str(path), set())
        module = str(path.relative_to(PACKAGE.parent))
        total, total_ran = total + len(defined), total_ran + len(defined & ran)
        if defined & ran:
            print(f"{len(defined & ran):4d}/{len(defined):<4d} functions ran  {module}")
        elif ran and not defined:
            print(f"   imported (no functions)  {module}")
        else:
            missing.append(module)
            print(f"{0:4d}/{len(defined):<4d} MISSING        {module}")
    print(f"{total_ran}/{total} functions ran; {len(missing)} module(s) not exercised; "
          f"pytest exit status {int(status)}")
    return 1 if missing or status != 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
