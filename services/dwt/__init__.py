"""Discover Weekly: the pipeline core (X API client, store, stages, ``dwt`` command line).

Importable without Kubernetes: the operator and the dashboard build on this package.
"""

__version__ = "0.1.0"
