# One image for every part of Discover Weekly in a cluster, for those who build with Docker.
# `make image` builds the same image without Docker (tools/image/build.py: mmdebstrap + pip in a
# chroot + umoci, from tools/image/image.toml); tests/unit/test_image.py checks that this file
# declares the same base, Debian packages (at debian.lock's versions), user, environment,
# entrypoint and command. The Helm chart gives each container its `args` (the entrypoint, tini,
# stays PID 1 and reaps the zombies Ray's processes leave):
#   operator   python -m dwt_operator --liveness http://0.0.0.0:8080/healthz
#   dashboard  python -m dwt_dashboard --host 0.0.0.0 --port 8050 --users FILE --kube ...
#   Ray head   ray start --head --block --dashboard-host=0.0.0.0 --num-cpus=N
#   Ray worker ray start --address=HEAD:6379 --block --num-cpus=N
#   Ray jobs   /opt/venv/bin/dwt run ...   (submitted by the operator, run on the head)
# It holds no secret: API keys, the MongoDB URL and the Ray token come from Kubernetes
# Secrets at run time. It runs as uid 10001 and works with a read-only root filesystem
# (HOME and Ray's files go to /tmp, an emptyDir in the chart).
#
#   docker build -t ghcr.io/discover-weekly/discover-weekly:0.1.0 .

FROM debian:bookworm-slim AS build
# Debian's packages at the versions of tools/image/debian.lock (apt pins), as `make image`.
COPY tools/image/debian.lock /tmp/debian.lock
RUN awk '!/^#/ && NF == 2 { printf "Package: %s\nPin: version %s\nPin-Priority: 1001\n\n", $1, $2 }' \
      /tmp/debian.lock >/etc/apt/preferences.d/dwt-lock \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY services services
COPY operator operator
COPY dashboard dashboard
# The versions the tests passed with (pip -c), as `make install` does.
RUN /opt/venv/bin/pip install -c requirements/constraints.txt . \
 && /opt/venv/bin/pip uninstall --yes pip

FROM debian:bookworm-slim
COPY tools/image/debian.lock /tmp/debian.lock
RUN awk '!/^#/ && NF == 2 { printf "Package: %s\nPin: version %s\nPin-Priority: 1001\n\n", $1, $2 }' \
      /tmp/debian.lock >/etc/apt/preferences.d/dwt-lock \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* /etc/apt/preferences.d/dwt-lock /tmp/debian.lock \
 && groupadd --gid 10001 dwt \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin dwt
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RAY_USAGE_STATS_ENABLED=0
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "dwt_operator"]
