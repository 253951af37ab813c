"""transfer subpackage."""
