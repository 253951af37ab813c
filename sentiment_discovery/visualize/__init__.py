"""visualize subpackage."""
