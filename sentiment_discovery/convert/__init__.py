"""convert subpackage."""
