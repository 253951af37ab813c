"""The drivers: one module per script, each the run behind it (config in, summary out; listed in
analysis/architecture.md). Drivers import the library; nothing in the library imports a driver
(tests/test_layering.py).
"""
