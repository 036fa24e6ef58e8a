"""docker-compose.yml cannot run here (no Docker engine): check it statically against the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from aml.cli import build_parser
from aml.config import PROJECT_ROOT, load_config

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _host_ports(service: str) -> dict[int, tuple[str, int]]:
    """container port -> (host ip, host port) of a service's published ports."""
    out = {}
    for spec in SERVICES[service].get("ports", []):
        ip, host, container = spec.split(":")
        out[int(container)] = (ip, int(host))
    return out


def test_compose_has_every_service_the_design_names():
    assert {
        "kafka",
        "postgres",
        "mariadb",
        "spark-master",
        "spark-worker",
        "jobs",
        "notebook",
    } <= set(SERVICES)


def test_every_image_is_pinned_or_built_here():
    for name, svc in SERVICES.items():
        image = svc.get("image", "")
        assert ":" in image, f"{name} has no image tag"
        if image.endswith(":latest"):
            assert image.startswith("aml-lakehouse:"), f"{name} uses an unpinned public image"


def test_published_ports_are_loopback_and_match_the_local_environment():
    local = load_config("local")
    expected = {
        "postgres": local.source("postgres")["port"],
        "mariadb": local.source("mariadb")["port"],
        "kafka": int(local.section("kafka")["bootstrap_servers"].rsplit(":", 1)[1]),
    }
    docker = load_config("docker")
    container = {
        "postgres": docker.source("postgres")["port"],
        "mariadb": docker.source("mariadb")["port"],
        "kafka": int(docker.section("kafka")["bootstrap_servers"].rsplit(":", 1)[1]),
    }
    for service, host_port in expected.items():
        ports = _host_ports(service)
        assert container[service] in ports, f"{service} does not publish {container[service]}"
        ip, published = ports[container[service]]
        assert ip == "127.0.0.1"
        assert published == host_port
    for service in SERVICES:
        for ip, _ in _host_ports(service).values():
            assert ip == "127.0.0.1", f"{service} publishes beyond loopback"


def test_docker_environment_hosts_are_compose_service_names():
    docker = load_config("docker")
    assert docker.source("postgres")["host"] in SERVICES
    assert docker.source("mariadb")["host"] in SERVICES
    assert docker.section("kafka")["bootstrap_servers"].split(":")[0] in SERVICES
    master_host = re.match(r"spark://([^:]+):", docker.section("spark")["master"]).group(1)
    assert master_host in SERVICES
    env = SERVICES["kafka"]["environment"]
    assert env["KAFKA_ADVERTISED_LISTENERS"].endswith(docker.section("kafka")["bootstrap_servers"])


def test_database_names_and_users_match_the_environment():
    docker = load_config("docker")
    pg_env = SERVICES["postgres"]["environment"]
    assert pg_env["POSTGRES_DB"] == docker.source("postgres")["database"]
    assert pg_env["POSTGRES_USER"] == docker.source("postgres")["user"]
    maria_env = SERVICES["mariadb"]["environment"]
    assert maria_env["MARIADB_DATABASE"] == docker.source("mariadb")["database"]
    assert maria_env["MARIADB_USER"] == docker.source("mariadb")["user"]


def test_no_secret_is_written_in_the_file():
    for name in ("postgres", "mariadb"):
        for key, value in SERVICES[name]["environment"].items():
            if "PASSWORD" in key and key != "MARIADB_RANDOM_ROOT_PASSWORD":
                assert str(value).startswith("${"), f"{name}.{key} must come from the environment"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_bind_mounts_point_at_files_of_the_repo(service: str):
    for volume in SERVICES[service].get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("./var/"):
            continue  # created at run time, git-ignored
        if source.startswith("./"):
            assert (PROJECT_ROOT / source).exists(), f"{service} mounts missing {source}"
        else:
            assert source in COMPOSE["volumes"], f"{service} uses undeclared volume {source}"


def test_commands_name_real_cli_commands_and_classes():
    parser = build_parser()
    args = parser.parse_args(SERVICES["jobs"]["command"][1:])
    assert args.command == "demo"
    assert build_parser().parse_args(SERVICES["stream"]["command"][1:]).command == "stream"
    assert SERVICES["stream"]["stop_signal"] == "SIGTERM"
    scheduled = build_parser().parse_args(SERVICES["scheduler"]["command"][1:])
    assert scheduled.command == "run" and scheduled.every == 3600
    assert SERVICES["scheduler"]["stop_signal"] == "SIGTERM"
    assert "org.apache.spark.deploy.master.Master" in " ".join(SERVICES["spark-master"]["command"])
    assert "spark://spark-master:7077" in " ".join(SERVICES["spark-worker"]["command"])
    for name in ("jobs", "stream", "scheduler", "notebook", "spark-worker"):
        assert SERVICES[name]["image"] == SERVICES["spark-master"]["image"]


def test_dockerfile_copies_only_what_exists():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (PROJECT_ROOT / src).exists(), f"Dockerfile copies missing {src}"
    assert Path(PROJECT_ROOT / "constraints.txt").is_file()
