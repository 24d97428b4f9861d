"""The ``aekit`` command line (``aekit.cli.main``)."""
