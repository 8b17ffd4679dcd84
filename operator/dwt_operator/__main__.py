"""``python -m dwt_operator``: run the operator (kopf) with its health endpoint.

Settings come from ``DWT_OPERATOR_*``; ``--liveness`` serves kopf's probe (for the
Deployment's readiness and liveness checks); peering keeps one active replica.
"""

from __future__ import annotations

import argparse
import logging

import kopf

from dwt_operator.handlers import build_registry
from dwt_operator.settings import OperatorSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dwt-operator", description=__doc__)
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz")
    parser.add_argument("--standalone", action="store_true", help="no peering (one replica)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = OperatorSettings()
    kopf.run(
        registry=build_registry(settings),
        liveness_endpoint=args.liveness,
        standalone=args.standalone,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
    )


if __name__ == "__main__":
    main()
