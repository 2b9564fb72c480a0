"""The same model served by the original drucker 0.4.5 (run inside its own virtualenv).

0.4.5's generated stubs do not load with a current protobuf, so they are rebuilt from the
wheel's own serialized descriptor (the same bytes, a current loader) before drucker is
imported; and its ``yaml.load`` call needs a Loader on PyYAML 6. Nothing else is changed.

    python server045.py MODEL PORT
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import tempfile
import types
from concurrent import futures
from pathlib import Path

import yaml


def _patch_yaml() -> None:
    original = yaml.load
    yaml.load = lambda stream, Loader=yaml.SafeLoader: original(stream, Loader=Loader)


def _rebuild_stubs() -> None:
    from google.protobuf import descriptor_pool
    from google.protobuf.internal import builder

    spec = importlib.util.find_spec("drucker")
    assert spec is not None and spec.submodule_search_locations
    package = Path(next(iter(spec.submodule_search_locations)))
    source = (package / "protobuf" / "drucker_pb2.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "serialized_pb":
            value = node.value.args[0] if isinstance(node.value, ast.Call) else node.value
            literal = ast.literal_eval(value)
            serialized = literal.encode("latin-1") if isinstance(literal, str) else literal
            break
    else:
        raise RuntimeError("no descriptor in drucker 0.4.5's stubs")
    from google.protobuf import descriptor_pb2  # noqa: F401  (the file it depends on)

    module = types.ModuleType("drucker.protobuf.drucker_pb2")
    module.DESCRIPTOR = descriptor_pool.Default().AddSerializedFile(serialized)
    builder.BuildMessageAndEnumDescriptors(module.DESCRIPTOR, module.__dict__)
    builder.BuildTopDescriptorsAndMessages(
        module.DESCRIPTOR, "drucker.protobuf.drucker_pb2", module.__dict__
    )
    sys.modules["drucker.protobuf.drucker_pb2"] = module
    sys.modules["drucker_pb2"] = module  # its grpc stubs import it as a top-level module


def main(model_path: str, port: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="drucker045-"))
    (workdir / "model" / "bench").mkdir(parents=True)
    os.symlink(model_path, workdir / "model" / "bench" / "default.model")
    settings = workdir / "settings.yml"
    settings.write_text(
        f"app.name: bench\napp.port: {port}\napp.service.name: bench\n"
        f"app.service.level: development\napp.modeldir: {workdir}/model\n"
        f"app.modelfile: default.model\napp.evaldir: {workdir}/eval\nuse.db: sqlite\n"
        "test: false\n"
    )
    os.chdir(workdir)
    _patch_yaml()
    _rebuild_stubs()

    import grpc
    import joblib
    import numpy as np
    from drucker.logger import JsonServiceLogger, JsonSystemLogger
    from drucker.protobuf import drucker_pb2_grpc
    from drucker.utils import PredictResult

    from drucker import Drucker, DruckerDashboardServicer, DruckerWorkerServicer

    class App(Drucker):
        def __init__(self, config_file: str) -> None:
            super().__init__(config_file)
            self.predictor = None
            self.load_model()

        def load_model(self) -> None:
            self.predictor = joblib.load(self.model_path)

        def predict(self, input, option=None):  # type: ignore[no-untyped-def]
            proba = self.predictor.predict_proba(np.asarray([input], dtype=np.float64))[0]
            best = int(proba.argmax())
            return PredictResult(str(self.predictor.classes_[best]), float(proba[best]))

        def evaluate(self, file_path):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def get_evaluate_detail(self, file_path, results):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    app = App(str(settings))
    config = app.config
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
    service_logger = JsonServiceLogger(config)
    system_logger = JsonSystemLogger(config)
    drucker_pb2_grpc.add_DruckerDashboardServicer_to_server(
        DruckerDashboardServicer(logger=system_logger, app=app), server
    )
    drucker_pb2_grpc.add_DruckerWorkerServicer_to_server(
        DruckerWorkerServicer(logger=service_logger, app=app), server
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
