# kubepulse image: the CLI (`kubepulse exporter cluster`, `kubepulse textfile`, ...) on a slim
# Python base, running as a non-root user with nothing but the built wheel installed.
#   python3 -m pip wheel --no-deps -w dist . && docker build -t kubepulse:0.1.0 .
# tests/deploy/test_image_install.py runs this file's install steps in a clean venv (no engine here).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/kubepulse \
    PATH=/opt/kubepulse/bin:$PATH

COPY dist/kubepulse-*.whl /tmp/wheels/
RUN python -m venv /opt/kubepulse \
 && /opt/kubepulse/bin/pip install /tmp/wheels/kubepulse-*.whl \
 && rm -rf /tmp/wheels \
 && kubepulse --help > /dev/null

# A fixed numeric UID/GID so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 65532 kubepulse \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin kubepulse
USER 65532:65532

EXPOSE 8080 8081
ENTRYPOINT ["kubepulse"]
CMD ["--help"]
