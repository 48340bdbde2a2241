# trunkwatch: the GitHub App, served by `trunkwatch serve` on port 3000.
# The base is pinned to a patch release and a Debian release so a rebuild is the same image.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN groupadd --system --gid 10001 trunkwatch \
    && useradd --system --uid 10001 --gid trunkwatch --home-dir /data --create-home \
        --shell /usr/sbin/nologin trunkwatch

WORKDIR /src

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *deps])"

# Then the App itself, without touching the dependencies installed above.
COPY README.md ./
COPY bot/ bot/
RUN pip install --no-deps .

USER trunkwatch
# The default store, sqlite:///trunkwatch.db, lands in the working directory: mount a volume.
WORKDIR /data
VOLUME ["/data"]

ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000

# No curl in slim images; urlopen raises (exit 1) on anything but a 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"]

CMD ["trunkwatch", "serve"]
