# The job image: the project, its pinned Python dependencies and the resolved Spark jars.
# Used by docker-compose.yml (services `jobs` and `notebook`); jobs run with spark-submit or `aml`.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven procps \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/aml
ENV AML_HOME=/opt/aml AML_ENV=docker PYSPARK_PYTHON=/usr/local/bin/python
COPY pyproject.toml constraints.txt README.md ./
COPY lib ./lib
RUN pip install --no-cache-dir -c constraints.txt -e ".[dev]" jupyterlab
COPY spark-conf ./spark-conf
RUN aml jars resolve
COPY conf ./conf
COPY jobs ./jobs
COPY notebooks ./notebooks
CMD ["aml", "--help"]
