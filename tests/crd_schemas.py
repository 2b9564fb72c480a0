"""Validation of manifests against the engines' own CRD schemas, vendored in tests/schemas/:
KServe's (``kserve/``) and Seldon Core 2's (``seldon/``)."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).parent / "schemas"
FILES = {
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "kserve/servingruntimes.v1alpha1.json.gz",
    (
        "serving.kserve.io/v1alpha1",
        "ClusterServingRuntime",
    ): "kserve/clusterservingruntimes.v1alpha1.json.gz",
    ("serving.kserve.io/v1beta1", "InferenceService"): "kserve/inferenceservices.v1beta1.json.gz",
    ("mlops.seldon.io/v1alpha1", "Server"): "seldon/servers.v1alpha1.json.gz",
    ("mlops.seldon.io/v1alpha1", "ServerConfig"): "seldon/serverconfigs.v1alpha1.json.gz",
    ("mlops.seldon.io/v1alpha1", "Model"): "seldon/models.v1alpha1.json.gz",
}


def _strict(schema: Any) -> Any:
    """``schema`` with unknown fields refused wherever the API server would prune them."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads(gzip.decompress((SCHEMAS / FILES[api_version, kind]).read_bytes()))
    return jsonschema.Draft7Validator(_strict(schema))


def crd_errors(resource: dict[str, Any]) -> list[str]:
    """What its engine's CRD schema refuses in ``resource`` (empty: valid)."""
    validator = _validator(resource["apiVersion"], resource["kind"])
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(resource)
    ]
