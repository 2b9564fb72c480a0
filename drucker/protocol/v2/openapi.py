"""The OpenAPI 3.0 document of the V2 REST endpoints (served at ``/v2/openapi.json``)."""

from __future__ import annotations

from typing import Any

from drucker._version import __version__
from drucker.protocol.v2.tensors import DATATYPES

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_PARAMETERS = {"type": "object", "additionalProperties": True}
_SHAPE = {"type": "array", "items": {"type": "integer"}}
_DATATYPE = {"type": "string", "enum": list(DATATYPES)}
_TENSOR_DATA = {
    "description": "flat or nested lists of numbers, booleans or (BYTES) strings",
    "oneOf": [
        {"type": "array"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "string"},
    ],
}
# A tensor and its data: an input of a request, an output of a response.
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": _SHAPE,
        "datatype": _DATATYPE,
        "parameters": _PARAMETERS,
        "data": _TENSOR_DATA,
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "TensorMetadata": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": _SHAPE,
            "parameters": _PARAMETERS,
        },
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _ref("TensorMetadata")},
            "outputs": {"type": "array", "items": _ref("TensorMetadata")},
        },
    },
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {
        "type": "object",
        "required": ["ready"],
        "properties": {
            "ready": {"type": "boolean"},
            "name": {"type": "string"},
            # why not, when the server knows: e.g. it started without a model in --model_dir
            "reason": {"type": "string"},
        },
    },
    "RequestInput": _TENSOR,
    "RequestOutput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
    },
    "InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "inputs": {"type": "array", "items": _ref("RequestInput")},
            "outputs": {"type": "array", "items": _ref("RequestOutput")},
        },
    },
    "ResponseOutput": _TENSOR,
    "InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "outputs": {"type": "array", "items": _ref("ResponseOutput")},
        },
    },
}

_MODEL_NAME = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "model_version", "in": "path", "required": True, "schema": {"type": "string"}}


def _model_paths(prefix: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        prefix: {
            "get": {
                "summary": "Model metadata",
                "parameters": parameters,
                "responses": {
                    "200": _json(_ref("ModelMetadata"), "the model's versions and tensors"),
                    "401": _error("a bearer token is needed (management.protect_predictions)"),
                    "404": _error("no such model or version"),
                },
            }
        },
        prefix + "/ready": {
            "get": {
                "summary": "Model readiness",
                "parameters": parameters,
                "responses": {
                    "200": _json(_ref("Ready"), "the model serves"),
                    "404": _error("no such model"),
                    "503": _json(_ref("Ready"), "the model does not serve (yet)"),
                },
            }
        },
        prefix + "/infer": {
            "post": {
                "summary": "Inference",
                "description": "JSON tensors, or the binary tensor extension: a JSON header "
                "of Inference-Header-Content-Length bytes followed by raw tensors.",
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("InferenceRequest")}},
                },
                "responses": {
                    "200": _json(_ref("InferenceResponse"), "label and score per row"),
                    "400": _error("the request does not decode or the model refused it"),
                    "401": _error("a bearer token is needed (management.protect_predictions)"),
                    "404": _error("no such model or version"),
                    "408": _error("the body did not arrive in time"),
                    "413": _error("the body or its rows are over the limit"),
                    "500": _error("the model failed"),
                    "503": _error("no model is loaded yet"),
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 description of the V2 REST endpoints."""
    paths: dict[str, Any] = {
        "/v2/health/live": {
            "get": {
                "summary": "Server liveness",
                "responses": {"200": _json(_ref("Live"), "the server answers")},
            }
        },
        "/v2/health/ready": {
            "get": {
                "summary": "Server readiness",
                "responses": {
                    "200": _json(_ref("Ready"), "a model is loaded"),
                    "503": _json(_ref("Ready"), "no model is loaded (yet; `reason` says why not)"),
                },
            }
        },
        "/v2": {
            "get": {
                "summary": "Server metadata",
                "responses": {"200": _json(_ref("ServerMetadata"), "name and version")},
            }
        },
        **_model_paths("/v2/models/{model_name}", [_MODEL_NAME]),
        **_model_paths("/v2/models/{model_name}/versions/{model_version}", [_MODEL_NAME, _VERSION]),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "drucker: Open Inference Protocol (V2) over HTTP",
            "version": __version__,
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
