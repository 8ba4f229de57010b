"""The ``wa`` command."""
