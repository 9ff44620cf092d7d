"""Which backend makes the vectors when the setting is `auto`.

The backend that made the index already in the embeddings folder, while it runs here: a changed
default must never re-embed a whole index (an hour at 10,000 articles on 2 cores). A new index
gets torch in fp16 on a CUDA GPU when there is one, else the int8 ONNX model when onnxruntime is
installed and the export works (2.6x faster than torch on the CPU at the same dev recall:
docs/performance.md, "Which backend"), else torch on the CPU. Indexing and serving resolve
`auto` from the same folder, so questions are embedded by the backend that made the vectors.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

from newsdesk.settings import Settings

AUTO = "auto"
TORCH = "torch"
TORCH_CUDA_FP16 = "torch-cuda-fp16"
ONNX_INT8 = "onnx-int8"
BACKENDS = (TORCH, TORCH_CUDA_FP16, ONNX_INT8)

log = logging.getLogger("newsdesk")


def chosen_backend(settings: Settings) -> str:
    """The backend these settings embed with: the setting itself unless it is `auto`."""
    if settings.backend != AUTO:
        return settings.backend
    return auto_backend(settings.resolved_model_path, existing_backend(settings.embeddings))


def index_backend(manifest: Mapping) -> str | None:
    """The backend that made an index's vectors, from its manifest's "model" dict; None when
    it names none this version knows."""
    model = manifest.get("model")
    backend = model.get("backend") if isinstance(model, Mapping) else None
    return backend if backend in BACKENDS else None


def existing_backend(root: Path) -> str | None:
    """The backend of the index CURRENT names in root; None when there is none (or it cannot be
    read: the build reports a damaged index, not this choice)."""
    from newsdesk.index.store import current_folder, read_manifest

    folder = current_folder(root)
    if folder is None:
        return None
    try:
        return index_backend(read_manifest(folder))
    except (OSError, ValueError):
        return None


def auto_backend(model_path: str, existing: str | None) -> str:
    """The existing index's backend when it runs here, else the fastest one that does."""
    if existing is not None:
        problem = _problem(existing, model_path)
        if problem is None:
            return existing
    if cuda_available():
        chosen = TORCH_CUDA_FP16
    else:
        onnx = onnx_problem(model_path)
        chosen = ONNX_INT8 if onnx is None else TORCH
        if onnx is not None and existing is None:
            # A warning, not an error: the index is built, only slower (`newsdesk index` shows
            # warnings and up).
            log.warning("embedding with torch: the faster int8 ONNX backend is unavailable (%s; "
                        "pip install 'newsdesk[onnx]')", onnx)
    if existing is not None:
        log.warning("the index was made with %s, which cannot run here (%s): %s re-embeds it "
                    "whole", existing, problem, chosen)
    return chosen


def _problem(backend: str, model_path: str) -> str | None:
    if backend == TORCH_CUDA_FP16:
        return None if cuda_available() else "no CUDA GPU"
    if backend == ONNX_INT8:
        return onnx_problem(model_path)
    return None


NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


def cuda_available() -> bool:
    """torch sees a CUDA GPU. Asked only where NVIDIA's driver is loaded: importing torch to
    find out costs ~5 s of every start, and without the driver CUDA cannot be there."""
    if not NVIDIA_DRIVER.exists():
        return False
    import torch

    return bool(torch.cuda.is_available())


@functools.lru_cache(maxsize=None)
def onnx_problem(model_path: str) -> str | None:
    """Why the int8 ONNX model cannot run here (onnxruntime missing, the export failed), or None.
    Exports on the first call on a machine (the file is cached), once per process."""
    try:
        import onnxruntime  # noqa: F401

        from newsdesk.embeddings.base import model_identity
        from newsdesk.embeddings.onnx_int8 import exported_model

        exported_model(model_path, model_identity(model_path, ONNX_INT8))
    except Exception as error:  # any failure to export means torch, never a failed build
        return f"{type(error).__name__}: {error}"
    return None
