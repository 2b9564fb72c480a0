"""``drucker bundle k8s``: manifests a restricted cluster admits, and stores the pods can share.

The Pod Security Standard checks below are written from the Kubernetes documentation
(https://kubernetes.io/docs/concepts/security/pod-security-standards/): every control of the
Baseline profile and the further controls of the Restricted profile, on the pod template of the
Deployment. Schema validity is checked separately with ``kubernetes-validate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from drucker.bundle.dockerfile import EVAL_DIR, MODEL_DIR
from drucker.bundle.k8s import manifests
from drucker.bundle.manifest import Manifest
from drucker.bundle.store import BundleStore
from drucker.bundle.wheels import PinnedPackage
from drucker.cli import main
from tests.bundle_support import PLAIN_KINDS, stored_bundle, validated_kinds

# Baseline: capabilities that may be added; Restricted narrows this to NET_BIND_SERVICE.
BASELINE_CAPABILITIES = {
    *("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD"),
    *("NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"),
}
SAFE_SYSCTLS = {
    *("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies"),
    *("net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"),
    *("net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time"),
    *("net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"),
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {
    *("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral"),
    *("persistentVolumeClaim", "projected", "secret"),
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What in a pod spec the Restricted profile (which includes Baseline) forbids."""
    found: list[str] = []
    context = pod.get("securityContext") or {}
    containers = [
        *pod.get("containers", []),
        *pod.get("initContainers", []),
        *pod.get("ephemeralContainers", []),
    ]

    def each(name: str) -> list[tuple[str, dict[str, Any]]]:
        return [(f"container {c['name']}", c.get("securityContext") or {}) for c in containers]

    # Baseline.
    for where, security in [("pod", context), *each("")]:
        if (security.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where}: hostProcess")
        if (security.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where}: seccomp Unconfined")
        if (security.get("appArmorProfile") or {}).get("type") not in (
            None,
            "RuntimeDefault",
            "Localhost",
        ):
            found.append(f"{where}: AppArmor profile")
        selinux = security.get("seLinuxOptions") or {}
        if (
            selinux.get("type", "") not in SELINUX_TYPES
            or selinux.get("user")
            or selinux.get("role")
        ):
            found.append(f"{where}: SELinux options")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"pod: {key}")
    for sysctl in context.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"pod: sysctl {sysctl['name']}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            found.append(f"volume {volume['name']}: hostPath")
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: type {sorted(kinds)}")
    for container in containers:
        for port in container.get("ports", []):
            if port.get("hostPort"):
                found.append(f"container {container['name']}: hostPort")
    for where, security in each(""):
        if security.get("privileged"):
            found.append(f"{where}: privileged")
        if security.get("procMount", "Default") != "Default":
            found.append(f"{where}: procMount")
        added = set((security.get("capabilities") or {}).get("add", []))
        if added - BASELINE_CAPABILITIES:
            found.append(f"{where}: adds {sorted(added - BASELINE_CAPABILITIES)}")
        # Restricted.
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        if not (security.get("runAsNonRoot") or context.get("runAsNonRoot")) or (
            security.get("runAsNonRoot") is False
        ):
            found.append(f"{where}: runAsNonRoot is not true")
        if security.get("runAsUser") == 0:
            found.append(f"{where}: runAsUser 0")
        profile = (security.get("seccompProfile") or context.get("seccompProfile") or {}).get(
            "type"
        )
        if profile not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where}: seccompProfile is {profile}")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{where}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: adds capabilities beyond NET_BIND_SERVICE")
    if context.get("runAsUser") == 0:
        found.append("pod: runAsUser 0")
    return found


def a_manifest(*packages: str, **changes: Any) -> Manifest:
    values: dict[str, Any] = {
        "name": "iris",
        "version": "1234567890ab",
        "digest": "1234567890ab" + "0" * 52,
        "created": "2026-01-01T00:00:00Z",
        "drucker_version": "1.0",
        "plugin": "drucker_sklearn",
        "model": "model/iris.joblib",
        "settings": "app/settings.yml",
        "port": 5000,
        "base_image": "python:3.11-slim",
        "env": {},
        "labels": {},
        "packages": [PinnedPackage(p, "1", f"{p}-1-py3-none-any.whl", "0" * 64) for p in packages],
        "files": {},
    }
    return Manifest(**{**values, **changes})


def pod_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(r for r in resources if r["kind"] == "Deployment")
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_the_checks_catch_what_the_restricted_profile_forbids() -> None:
    pod = pod_of(manifests(a_manifest(), replicas=1, max_replicas=1))
    assert restricted_violations(pod) == []
    container = pod["containers"][0]
    del container["securityContext"]["allowPrivilegeEscalation"]
    container["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    pod["securityContext"] = {"runAsUser": 0}
    del container["securityContext"]["seccompProfile"]
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    pod["hostNetwork"] = True
    assert set(restricted_violations(pod)) >= {
        "container model: allowPrivilegeEscalation is not false",
        "container model: adds ['NET_ADMIN']",
        "container model: capabilities do not drop ALL",
        "container model: seccompProfile is None",
        "pod: runAsUser 0",
        "volume host: hostPath",
        "pod: hostNetwork",
    }


@pytest.mark.parametrize("store_url", [None, "s3://models/iris"])
def test_pods_meet_the_restricted_profile_and_validate(store_url: str | None) -> None:
    manifest = a_manifest("fsspec", "s3fs")
    resources = manifests(manifest, replicas=3, store_url=store_url, store_secret="iris-s3")
    assert validated_kinds(resources) == PLAIN_KINDS
    account, deployment, _, autoscaler, _ = resources
    pod = pod_of(resources)
    assert restricted_violations(pod) == []
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert {MODEL_DIR, EVAL_DIR, "/tmp"} <= set(mounts)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert all(volumes[name] == {"name": name, "emptyDir": {}} for name in mounts.values())
    if store_url:
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert mounts[env["DRUCKER_STORE_CACHE_DIR"]] == "model-cache"
    # The autoscaler owns the count: a fixed replicas would reset it at every apply.
    assert "replicas" not in deployment["spec"]
    assert autoscaler["spec"]["minReplicas"] == 3
    assert pod["serviceAccountName"] == account["metadata"]["name"] == "iris"
    assert pod["automountServiceAccountToken"] is False
    assert account["automountServiceAccountToken"] is False
    startup = container["startupProbe"]
    assert startup["grpc"]["port"] == 5000
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert "initialDelaySeconds" not in container["livenessProbe"]
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "/opt/venv/bin/python" and "sleep(5)" in pause[-1]
    assert pod["terminationGracePeriodSeconds"] >= 15 + 5


def k8s(store: BundleStore, tag: str, *options: str) -> Result:
    return CliRunner().invoke(main, ["bundle", "k8s", tag, "--store", str(store.root), *options])


def test_a_store_url_the_bundle_cannot_open_is_refused_saying_what_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BundleStore(tmp_path / "store")
    tag = stored_bundle(store, tmp_path / "project", monkeypatch, "drucker", "numpy")
    result = k8s(store, tag, "--store-url", "s3://models/iris")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"drucker bundle: --store-url s3://models/iris: bundle {tag} has no fsspec, s3fs, so "
        "its pods would die with ModuleNotFoundError: add 'drucker[s3]' to the requirements "
        "in bundle.yaml and build the bundle again"
    ]
    gcs = k8s(store, tag, "--store-url", "gs://models/iris")
    assert gcs.exit_code == 2 and "'drucker[gcs]'" in gcs.stderr and "gcsfs" in gcs.stderr


def test_a_store_url_the_bundle_can_open_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BundleStore(tmp_path / "store")
    tag = stored_bundle(store, tmp_path / "project", monkeypatch, "drucker", "fsspec", "s3fs")
    result = k8s(store, tag, "--store-url", "s3://models/iris", "--replicas", "3")
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.stderr
    pod = pod_of(list(yaml.safe_load_all(result.stdout)))
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["DRUCKER_STORE_URL"] == "s3://models/iris"


def test_replicas_without_a_shared_store_are_refused_unless_insisted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BundleStore(tmp_path / "store")
    tag = stored_bundle(store, tmp_path / "project", monkeypatch, "drucker")
    refused = k8s(store, tag, "--replicas", "3")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "up to 10 replicas without --store-url keep one model store each" in refused.stderr
    assert "--store-url" in refused.stderr and "--separate-stores" in refused.stderr
    insisted = k8s(store, tag, "--replicas", "3", "--separate-stores")
    assert insisted.exit_code == 0, insisted.output
    assert insisted.stderr.startswith("WARNING: up to 10 replicas without --store-url")
    assert len(list(yaml.safe_load_all(insisted.stdout))) == 5
    single = k8s(store, tag, "--replicas", "1", "--max-replicas", "1")
    assert single.exit_code == 0 and "WARNING" not in single.stderr


def test_the_ports_come_from_the_bundles_settings_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BundleStore(tmp_path / "store")
    tag = stored_bundle(store, tmp_path / "project", monkeypatch, "drucker")
    path, _ = store.get(tag)
    # settings.yml sets http.port 8090 and metrics.port 9100; the env's 9200 wins for metrics.
    expose = [line for line in (path / "Dockerfile").read_text().splitlines() if "EXPOSE" in line]
    assert expose == ["EXPOSE 5000 8090 9200"]
    result = k8s(store, tag, "--max-replicas", "1", "--replicas", "1")
    assert result.exit_code == 0, result.output
    resources = list(yaml.safe_load_all(result.stdout))
    ports = {p["name"]: p["containerPort"] for p in pod_of(resources)["containers"][0]["ports"]}
    assert ports == {"grpc": 5000, "http": 8090, "metrics": 9200}
    service = next(r for r in resources if r["kind"] == "Service")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == ports
