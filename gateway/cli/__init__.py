"""The ``hostgate`` command line."""
