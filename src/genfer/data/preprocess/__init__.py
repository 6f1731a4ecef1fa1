"""Face preprocessing: detect (MTCNN) -> align (five-point similarity, FFHQ rule, box) -> crop -> store.

``genfer prepare`` runs :func:`prepare` once over a dataset; training reads the resulting store
(:class:`genfer.data.store.StoreDataset`). Importing this package registers the ``mtcnn`` detector.
"""

from genfer.data.preprocess.align import (
    ALIGN_MODES,
    PRESETS,
    TEMPLATES,
    CropPreset,
    Template,
    align,
    crop_matrices,
    ffhq_matrix,
    similarity_transform,
    warp,
)
from genfer.data.preprocess.detections import LANDMARK_NAMES, FaceDetections, FaceDetector
from genfer.data.preprocess.mtcnn import MTCNN, load_mtcnn, nms
from genfer.data.preprocess.pipeline import PrepareSettings, PrepareSummary, prepare

__all__ = [
    "ALIGN_MODES",
    "LANDMARK_NAMES",
    "MTCNN",
    "PRESETS",
    "TEMPLATES",
    "CropPreset",
    "FaceDetections",
    "FaceDetector",
    "PrepareSettings",
    "PrepareSummary",
    "Template",
    "align",
    "crop_matrices",
    "ffhq_matrix",
    "load_mtcnn",
    "nms",
    "prepare",
    "similarity_transform",
    "warp",
]
