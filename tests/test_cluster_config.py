"""ray_cluster.yaml is a valid cluster-launcher config, checked with Ray's own schema."""
from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.conftest import ROOT


@pytest.fixture()
def cluster():
    return yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())


def test_cluster_config_passes_rays_schema(cluster):
    prepared = prepare_config(copy.deepcopy(cluster))
    validate_config(prepared)
    assert prepared["provider"]["type"] == "local"
    assert set(prepared["available_node_types"]) >= {"local.cluster.node"}
    assert any("pip install -q -e ~/pm2gan" in c for c in prepared["setup_commands"])


def test_schema_check_is_not_a_rubber_stamp(cluster):
    broken = copy.deepcopy(cluster)
    broken["max_wrkers"] = 3  # a typo must be caught
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))


def test_nothing_unauthenticated_listens_on_every_interface(cluster):
    """The dashboard (job submission) and the MLflow server have no authentication: the
    dashboard stays on the head's loopback (`ray dashboard` tunnels to it) and MLflow on the
    head's private address."""
    commands = " ".join(cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"])
    assert "0.0.0.0" not in commands
    assert "--dashboard-host=127.0.0.1" in commands and "mlflow server" in commands and "--host HEAD_IP" in commands


def test_every_node_starts_with_the_clusters_token(cluster):
    """Ray 2.60 starts a head with token authentication: a worker without the token is refused."""
    assert cluster["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    starts = [c for c in cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"] if "ray start" in c]
    assert len(starts) == 2 and all("RAY_AUTH_MODE=token" in c for c in starts)
