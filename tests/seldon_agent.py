"""Seldon Core 2's agent's side of its contract with a server, written from the agent's own code
(``scheduler/pkg/agent``: ``modelserver_controlplane/oip/v2.go``, ``agent_svc_manager.go``,
``repository/model_repository.go`` and ``repository/mlserver``), for tests.

The agent calls the server over gRPC without any metadata (no token): ``ServerLive`` until it
answers ``live``, then, at its start, unloads every model ``RepositoryIndex`` says is READY or
LOADING (``NOT_FOUND`` is tolerated, any other error stops it); for each model it is given it
copies the artifact to ``<models>/<name>_<v>/<v>/`` and, for the MLServer server type, writes a
``model-settings.json`` there naming ``<name>_<v>``, then calls ``RepositoryModelLoad``; its
reverse proxy forwards inference as ``ModelInfer`` naming ``<name>_<v>``; an unload is
``RepositoryModelUnload`` and then the removal of the model's folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.polling import wait_for

TIMEOUT = 30  # the agent's control-plane calls have deadlines of their own


class Agent:
    """The agent's calls to one server at ``target``, over its models directory ``models``."""

    def __init__(self, target: str, models: Path) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)
        self.models = models

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_live(self, seconds: float = 60) -> None:
        """``ServerLive`` until it answers ``live`` (the agent's start waits so)."""

        def live() -> bool:
            try:
                return bool(self.stub.ServerLive(pb.ServerLiveRequest(), timeout=3).live)
            except grpc.RpcError:
                return False

        wait_for(live, "the server to answer ServerLive", seconds)

    def index(self) -> dict[str, str]:
        """``RepositoryIndex``: each model's state, by name (rows with no name are skipped)."""
        answer = self.stub.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=TIMEOUT)
        return {row.name: row.state for row in answer.models if row.name}

    def unload_all(self) -> list[str]:
        """What the agent does at its start: unload every READY or LOADING model (``NOT_FOUND``
        tolerated) and remove its folder; the names it unloaded."""
        unloaded = []
        for name, state in self.index().items():
            if state not in ("READY", "LOADING"):
                continue
            try:
                self.unload(name)
            except grpc.RpcError as error:
                if error.code() is not grpc.StatusCode.NOT_FOUND:
                    raise
            unloaded.append(name)
        return unloaded

    def place(self, name: str, version: int, artifact: Path, requirement: str = "sklearn") -> Path:
        """Copy ``artifact`` (a file) to ``<models>/<name>_<version>/<version>/`` and write the
        ``model-settings.json`` the MLServer type's handler writes for ``requirement``."""
        folder = self.models / f"{name}_{version}" / str(version)
        folder.mkdir(parents=True)
        shutil.copy(artifact, folder / artifact.name)
        implementation = {"sklearn": "mlserver_sklearn.SKLearnModel"}.get(requirement, "")
        settings: dict[str, Any] = {
            "name": f"{name}_{version}",
            "implementation": implementation,
            "parameters": {"uri": f"./{artifact.name}", "version": str(version)},
        }
        (folder / "model-settings.json").write_text(json.dumps(settings))
        for path in (folder, folder.parent, folder / artifact.name, folder / "model-settings.json"):
            path.chmod(0o755 if path.is_dir() else 0o644)  # the server runs as another user
        return folder

    def load(self, model: str) -> None:
        self.stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name=model), timeout=120)

    def unload(self, model: str) -> None:
        self.stub.RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name=model), timeout=TIMEOUT
        )
        shutil.rmtree(self.models / model, ignore_errors=True)  # RemoveModelVersion

    def infer(self, model: str, rows: np.ndarray) -> tuple[list[str], list[float]]:
        """``ModelInfer`` naming ``model`` (as the agent's proxy forwards it): labels, scores."""
        tensor = pb.ModelInferRequest.InferInputTensor(
            name="input",
            datatype="FP32",
            shape=list(rows.shape),
            contents=pb.InferTensorContents(fp32_contents=rows.ravel().tolist()),
        )
        answer = self.stub.ModelInfer(
            pb.ModelInferRequest(model_name=model, id="seldon-1", inputs=[tensor]), timeout=TIMEOUT
        )
        assert answer.model_name == model and answer.id == "seldon-1"
        outputs = {output.name: output for output in answer.outputs}
        labels = [value.decode() for value in outputs["label"].contents.bytes_contents]
        scores = list(outputs["score"].contents.fp32_contents) or list(
            outputs["score"].contents.fp64_contents
        )
        return labels, scores


def expected_predictions(model_file: Path, rows: np.ndarray) -> tuple[list[str], list[float]]:
    """What the scikit-learn model in ``model_file`` says for ``rows``: labels and scores."""
    import joblib

    model = joblib.load(model_file)
    labels = [str(label) for label in model.predict(rows)]
    return labels, model.predict_proba(rows).max(axis=1).tolist()


def replay(target: str, models: Path, artifact: Path, rows: np.ndarray) -> dict[str, Any]:
    """The agent's whole sequence for one model ``iris`` version 1; what each step answered."""
    with Agent(target, models) as agent:
        agent.wait_live()
        steps: dict[str, Any] = {"unloaded_at_start": agent.unload_all()}
        steps["index_at_start"] = agent.index()
        agent.place("iris", 1, artifact)
        steps["index_placed"] = agent.index()
        agent.load("iris_1")
        steps["index_loaded"] = agent.index()
        steps["labels"], steps["scores"] = agent.infer("iris_1", rows)
        agent.unload("iris_1")
        steps["index_unloaded"] = agent.index()
        steps["folder_left"] = (models / "iris_1").exists()
        try:
            agent.infer("iris_1", rows)
            steps["infer_unloaded"] = "OK"
        except grpc.RpcError as error:
            steps["infer_unloaded"] = error.code().name
        return steps


if __name__ == "__main__":  # a sidecar: python -m tests.seldon_agent TARGET MODELS ARTIFACT ROWS
    import sys

    target, models, artifact, rows_json = sys.argv[1:5]
    rows = np.asarray(json.loads(rows_json), dtype=np.float32)
    print(json.dumps(replay(target, Path(models), Path(artifact), rows)))
