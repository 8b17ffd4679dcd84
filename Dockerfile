# One image for every part of Discover Weekly in a cluster (the Helm chart sets each
# container's command; ENTRYPOINT is empty so a command runs as given):
#   operator   python -m dwt_operator --liveness http://0.0.0.0:8080/healthz
#   dashboard  python -m dwt_dashboard --host 0.0.0.0 --port 8050 --users FILE --kube ...
#   Ray head   ray start --head --block --dashboard-host=0.0.0.0 --num-cpus=N
#   Ray worker ray start --address=HEAD:6379 --block --num-cpus=N
#   Ray jobs   /opt/venv/bin/dwt run ...   (submitted by the operator, run on the head)
# It holds no secret: API keys, the MongoDB URL and the Ray token come from Kubernetes
# Secrets at run time. It runs as uid 10001 and works with a read-only root filesystem
# (HOME and Ray's files go to /tmp, an emptyDir in the chart).
#
# NOT BUILT on the development machines (no Docker engine there); build it on CI or a
# workstation:  docker build -t ghcr.io/discover-weekly/discover-weekly:0.1.0 .
# tests/unit/test_chart.py only reads this file (base image, user, constraints).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY services services
COPY operator operator
COPY dashboard dashboard
# The versions the tests passed with (pip -c), as `make install` does.
RUN /opt/venv/bin/pip install -c requirements/constraints.txt .

FROM python:3.11-slim
RUN groupadd --gid 10001 dwt \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin dwt
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RAY_USAGE_STATS_ENABLED=0
WORKDIR /tmp
USER 10001
ENTRYPOINT []
CMD ["python", "-m", "dwt_operator"]
