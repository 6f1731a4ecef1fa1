"""Expressions of every face in photos, folders and videos: detect, crop by the model's rule, classify.

A recogniser is a pretrained net from :data:`genfer.core.registry.PRETRAINED` (``fer``, ``faceapi``)
or a trained genfer run wrapped by :class:`RunRecognizer`; both follow the
:class:`~genfer.models.pretrained.base.ExpressionRecognizer` contract, so one code path cuts
every face the way the chosen model expects (``recogniser.crop`` ->
:func:`~genfer.data.preprocess.align.crop_matrices` + :func:`~genfer.data.preprocess.align.warp`).

Images that are already face crops (``aligned``) skip detection and are classified whole, resized
to the model's input as the training loaders do. With ``aligned="auto"`` an image counts as a
crop when it is about square and at most twice the model's input side (:func:`looks_like_crop`);
a crop under half the model's input side is still used, with a :class:`FaceCropWarning`.
:func:`load_faces` applies the same rule to the inputs of generators (``genfer transfer``,
``genfer edit``), taking the largest face of each photo.

Nothing stops a run but an interruption: a missing or undecodable file, a video without a decoder
or a detector failure becomes a :class:`Problem` and the run goes on. Videos are read frame by
frame with PyAV (``pip install av``), when it is installed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genfer.core.errors import GenferError, GenferWarning
from genfer.data.io import IMAGE_EXTENSIONS, ImageError, read_image
from genfer.data.labels import EXPRESSIONS
from genfer.data.loaders import resize_uint8, to_channels
from genfer.data.preprocess.align import PRESETS, CropPreset, crop_matrices, warp
from genfer.data.preprocess.detections import FaceDetections

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")
"""File name endings read as videos (compared lower-case)."""

VIDEO_DECODER_HINT = "reading videos needs PyAV: pip install av"

ALIGNED_MODES = ("auto", "yes", "no")


MIN_CROP_FRACTION = 0.5
"""A face crop whose shorter side is below this fraction of the model's input side gets a warning:
upscaled more than twice, it holds too little of a face for a trustworthy result."""

DETECTOR_FIX = "or pass --aligned if the images are already face crops"


class DetectorUnavailableError(GenferError, RuntimeError):
    """The face detector could not be built (e.g. its weights are not fetched); stops the run."""


class FaceCropWarning(GenferWarning):
    """An image taken as a face crop is too small or not square for the model's input."""


# --- recognisers --------------------------------------------------------------------------------------
class RunRecognizer:
    """A trained genfer run as an :class:`~genfer.models.pretrained.base.ExpressionRecognizer`.

    The crop rule is the method's preset in :data:`~genfer.data.preprocess.align.PRESETS` (a
    five-point ``arcface-wide`` alignment for methods without one) at the run's image size and
    channels; classes are the method's own (``Classifier.classes``).

    Args:
        run: a run directory or checkpoint directory.
        device: torch device.

    Raises:
        genfer.models.capabilities.CapabilityError: the run's method is not a ``Classifier``.
    """

    def __init__(self, run: str | os.PathLike, device: str = "cpu") -> None:
        from genfer.engine.checkpoint import load_method
        from genfer.models.capabilities import require

        self.method, self.cfg = load_method(run, device)
        require(self.method, "classify", "genfer recognize", source=run)
        self.name = str(run)
        self.classes: tuple[str, ...] = tuple(self.method.classes)
        self.crop: CropPreset = run_crop(self.cfg)

    def warn_if_real_photos(self, paths: Sequence[str | os.PathLike]) -> None:
        """See :func:`warn_if_real_photos`."""
        warn_if_real_photos(self.cfg, paths, self.name)

    def __call__(self, faces: Tensor) -> Tensor:
        """uint8 ``[N, C, size, size]`` -> float ``[N, len(classes)]`` probabilities."""
        from genfer.apps.inference import predict_expressions

        return predict_expressions(self.method, faces)


def run_crop(cfg: Any) -> CropPreset:
    """The crop rule of a trained run: its method's preset in
    :data:`~genfer.data.preprocess.align.CROP_PRESETS` (a five-point ``arcface-wide`` alignment for methods
    without one) at the run's ``model.image_size`` and ``model.channels``."""
    size, channels = int(cfg.model.image_size), int(cfg.model.channels)
    base = PRESETS.get(cfg.method, None)
    base = base or CropPreset(cfg.method, "five-point", size, channels, template="arcface-wide")
    return replace(base, size=size, channels=channels)


def load_recognizer(model: str, device: str = "cpu") -> Any:
    """A pretrained recogniser by ``PRETRAINED`` name, else a trained run directory.

    Raises:
        KeyError: ``model`` is neither a registered name nor an existing path.
        genfer.core.weights.WeightsNotFetchedError: a pretrained net's weights are not fetched yet.
    """
    from genfer.core.registry import PRETRAINED
    from genfer.models import pretrained

    pretrained.load_all()
    if model in PRETRAINED:
        return PRETRAINED.get(model)(device=device)
    if Path(model).expanduser().exists():
        return RunRecognizer(Path(model).expanduser(), device)
    from genfer.core.reference import reference_models

    if model in reference_models():
        return RunRecognizer(model, device)
    raise KeyError(f"unknown model {model!r}: not a pretrained recogniser ({', '.join(PRETRAINED.names())}), "
                   f"a shipped reference model ({', '.join(reference_models()) or 'none'}) nor an existing run "
                   "directory")


def load_detector(name: str = "mtcnn", device: str = "cpu", min_face_size: float = 40.0,
                  fast: bool = False) -> Any:
    """A ``DETECTORS`` entry set up for photos.

    For ``mtcnn`` this is the cascade with :data:`~genfer.data.preprocess.mtcnn.PHOTO_SETTINGS`
    (lower proposal thresholds and one O-Net refinement pass; see ``docs/recognize.md`` for the
    figures), or the original cascade with ``fast``.
    """
    from genfer.core.registry import DETECTORS
    from genfer.data.preprocess import mtcnn

    extra = dict(mtcnn.PHOTO_SETTINGS) if name == "mtcnn" and not fast else {}
    return DETECTORS.get(name)(device=device, min_face_size=min_face_size, **extra)


# --- results ------------------------------------------------------------------------------------------
@dataclass
class FaceExpression:
    """One face of one image or video frame, or a note that the image has none.

    Attributes:
        file: the input file.
        frame: video frame index (0-based, decode order); ``None`` for images.
        face: face index in the image (by descending detection score); ``None``: no face found.
        box: ``(x1, y1, x2, y2)`` in image pixels; ``None`` for a whole-image crop or no face.
        score: detection probability; ``None`` for a whole-image crop or no face.
        landmarks: five ``(x, y)`` points (``LANDMARK_NAMES`` order), or ``None``.
        expression: the most probable class, ``None`` if no face.
        probabilities: class name -> probability, canonical order (empty if no face).
    """

    file: str
    frame: int | None = None
    face: int | None = None
    box: tuple[float, float, float, float] | None = None
    score: float | None = None
    landmarks: list[tuple[float, float]] | None = None
    expression: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)

    def to_record(self, classes: Sequence[str], video: bool = False) -> dict[str, Any]:
        """A flat JSON/CSV-ready dict: ``image``, [``frame``], ``face``, ``box``, ``score``,
        ``expression``, one key per class (``None`` where not applicable)."""
        rec: dict[str, Any] = {"image": self.file}
        if video:
            rec["frame"] = self.frame
        rec["face"] = self.face
        rec["box"] = [round(v, 2) for v in self.box] if self.box is not None else None
        rec["score"] = round(self.score, 6) if self.score is not None else None
        rec["expression"] = self.expression
        for c in classes:
            p = self.probabilities.get(c)
            rec[c] = round(p, 6) if p is not None else None
        return rec


@dataclass
class Problem:
    """An input that gave no result: the file and why."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


# --- inputs -------------------------------------------------------------------------------------------
def is_video_file(path: str | os.PathLike) -> bool:
    """True when the name ends in one of :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> tuple[list[tuple[Path, Path]], list[Problem]]:
    """Files to read: each named file, and every image/video file under each named folder.

    Returns:
        ``([(file, base), ...], problems)``: ``base`` is the folder a file was found under (its
        own parent for a named file; annotated copies keep the path relative to it); missing paths
        and empty folders are problems.
    """
    files: list[tuple[Path, Path]] = []
    problems: list[Problem] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = sorted((f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                            and (str(f).lower().endswith(IMAGE_EXTENSIONS) or is_video_file(f))),
                           key=lambda f: f.relative_to(p).as_posix())
            if not found:
                problems.append(Problem(str(raw), "folder holds no image or video file"))
            files.extend((f, p) for f in found)
        elif p.exists():
            files.append((p, p.parent))
        else:
            problems.append(Problem(str(raw), "file not found"))
    return files, problems


def video_frames(path: str | os.PathLike, every: int = 1) -> Iterator[tuple[int, Tensor]]:
    """Decode a video's frames as uint8 RGB ``[3, H, W]``, with their index (every ``every``-th).

    Raises:
        ImportError: PyAV is not installed (the message says what to install).
        ValueError: the file cannot be opened or decoded as a video (message ``"<path>: <problem>"``).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    try:
        import av
    except ImportError:
        raise ImportError(VIDEO_DECODER_HINT) from None
    try:
        container = av.open(str(path))
    except Exception as e:  # PyAV raises several error types (FileNotFoundError, av.error.*)
        raise ValueError(f"{path}: cannot open as a video ({type(e).__name__}: {e})") from None
    with container:
        if not container.streams.video:
            raise ValueError(f"{path}: has no video stream")
        try:
            for i, frame in enumerate(container.decode(video=0)):
                if i % every == 0:
                    yield i, torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).contiguous()
        except Exception as e:
            raise ValueError(f"{path}: video decoding failed ({type(e).__name__}: {e})") from None


# --- classification -----------------------------------------------------------------------------------
def looks_like_crop(image_hw: tuple[int, int], crop: CropPreset) -> bool:
    """Whether an image of this size is taken for a face crop under ``aligned="auto"``: about square
    (sides within 1.25x) and no more than twice the model's input side."""
    h, w = image_hw
    return max(h, w) <= 2 * crop.size and max(h, w) <= 1.25 * min(h, w)


class SyntheticModelWarning(GenferWarning):
    """A model trained only on SynthFace renders is applied to images that are not renders."""


def trained_on_synthface_only(cfg) -> bool:
    """Whether a run's training images were all SynthFace renders (its ``data`` sources)."""
    return cfg.data.expressions == "synthface" and cfg.data.faces == "synthface"


def warn_if_real_photos(cfg, paths: Sequence[str | os.PathLike], source: str) -> None:
    """One line when a SynthFace-only model gets inputs that are not render-sized face crops.

    SynthFace renders are square crops of exactly the model's size; a video, a folder or an image of
    any other size is taken for a real photo, on which such a model's output means little. A real
    face crop of exactly the render size is not caught (that would take a judge of realism).
    """
    if not trained_on_synthface_only(cfg):
        return
    from PIL import Image

    size = cfg.model.image_size

    def render_sized(p: str | os.PathLike) -> bool:
        if not Path(p).is_file() or is_video_file(p):
            return False
        try:
            with Image.open(p) as im:
                return im.size == (size, size)
        except OSError:
            return False  # read errors are reported by the loader, with the file named

    real = [str(p) for p in paths if not render_sized(p)]
    if real:
        warnings.warn(SyntheticModelWarning(
            f"{source} was trained on SynthFace renders only and does not know real faces; its output on "
            f"{real[0]}{f' and {len(real) - 1} more' if len(real) > 1 else ''} shows what it learned from "
            "renders, not a real-photo result"), stacklevel=2)


def warn_if_poor_crop(file: str | os.PathLike, image_hw: tuple[int, int], crop: CropPreset) -> None:
    """Warn (:class:`FaceCropWarning`) when an image used whole as a face crop is smaller than
    :data:`MIN_CROP_FRACTION` of the model's input side, or not about square (it gets stretched)."""
    h, w = image_hw
    if min(h, w) < MIN_CROP_FRACTION * crop.size:
        warnings.warn(FaceCropWarning(
            f"{file}: a {w}x{h} face crop is small for the model's {crop.size}x{crop.size} input (under "
            f"{MIN_CROP_FRACTION:g}x); it is upscaled and the result may be unreliable"), stacklevel=2)
    elif max(h, w) > 1.25 * min(h, w):
        warnings.warn(FaceCropWarning(
            f"{file}: a {w}x{h} image used as a face crop is not square; it is stretched to "
            f"{crop.size}x{crop.size} (leave out --aligned to detect and align the face)"), stacklevel=2)


def load_faces(
    paths: Sequence[str | os.PathLike],
    crop: CropPreset,
    detector: Any | Callable[[], Any] | None = None,
    aligned: str = "auto",
) -> Tensor:
    """Faces for a generator from image files: face crops resized, photos detected and aligned.

    With ``aligned="auto"`` an image is a face crop when :func:`looks_like_crop` says so, and is
    then used whole (a warning if it is small or not square, see :func:`warn_if_poor_crop`);
    any other image is searched for faces and its largest face is cut by ``crop``'s rule.

    Args:
        paths: image files.
        crop: the model's crop rule (:func:`run_crop`).
        detector: a face detector, or a no-argument callable building one on first need.
        aligned: ``auto``, ``yes`` (every image is a crop) or ``no`` (always detect).

    Returns:
        uint8 ``[N, crop.channels, crop.size, crop.size]``.

    Raises:
        genfer.data.io.ImageError: a file cannot be read (named).
        genfer.core.errors.GenferError: a photo holds no face (named).
        DetectorUnavailableError: a photo needs the detector and it cannot be built.
    """
    if aligned not in ALIGNED_MODES:
        raise ValueError(f"aligned must be one of {', '.join(ALIGNED_MODES)}; got {aligned!r}")
    out = torch.empty(len(paths), crop.channels, crop.size, crop.size, dtype=torch.uint8)
    built: list[Any] = []
    for i, p in enumerate(paths):
        image = read_image(p, channels=3)
        hw = tuple(image.shape[1:])
        if aligned == "yes" or (aligned == "auto" and looks_like_crop(hw, crop)):
            warn_if_poor_crop(p, hw, crop)
            out[i] = face_crops(image, None, crop)[0]
            continue
        if not built:
            built.append(_build_detector(detector, p, _why_detect(hw, crop, aligned)))
        dets = built[0].detect(image)
        if len(dets) == 0:
            raise GenferError(f"no face found in this {hw[1]}x{hw[0]} image", path=p,
                              fix="give a photo with a clearly visible face, or pass --aligned if it is a face crop")
        out[i] = face_crops(image, dets.select("largest"), crop)[0]
    return out


def _why_detect(hw: tuple[int, ...], crop: CropPreset, aligned: str) -> str:
    if aligned == "no":
        return "is to be searched for faces (--detect)"
    return f"is {hw[1]}x{hw[0]}, not a {crop.size}x{crop.size} face crop, so faces must be detected"


def _build_detector(detector: Any, file: str | os.PathLike, why: str) -> Any:
    if detector is None:
        raise DetectorUnavailableError(f"{why}, and no face detector was given", path=file, fix=DETECTOR_FIX)
    if hasattr(detector, "detect"):
        return detector
    try:
        return detector()
    except Exception as e:
        raise DetectorUnavailableError(f"{why}, but the face detector cannot be loaded: {e}", path=file,
                                       fix=DETECTOR_FIX) from e


def face_crops(image: Tensor, detections: FaceDetections | None, crop: CropPreset) -> Tensor:
    """Model inputs for every face: uint8 ``[K, crop.channels, crop.size, crop.size]``.

    Args:
        image: uint8 ``[C, H, W]`` photo.
        detections: faces in ``image``; ``None`` takes the whole image as one aligned crop (resized
            as the training loaders do).
        crop: the recogniser's crop rule.
    """
    if detections is None:
        return resize_uint8(to_channels(image[None], crop.channels), crop.size)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    hw = tuple(image.shape[1:])
    mats = crop_matrices(detections, hw, crop.align, crop.size, crop.template, crop.margin)
    return to_channels(warp(image, mats, crop.size, crop.padding), crop.channels)


def recognize_image(
    image: Tensor,
    recognizer: Any,
    detector: Any = None,
    *,
    min_score: float = 0.0,
    flip: bool = True,
) -> tuple[FaceDetections | None, Tensor]:
    """Expression probabilities of every face in one image.

    Args:
        image: uint8 ``[C, H, W]`` (RGB or grey).
        recognizer: an ExpressionRecognizer.
        detector: a face detector; ``None`` classifies the whole image as one aligned crop.
        min_score: drop detections scoring below this.
        flip: ask the detector for its mirrored second pass (when it has one).

    Returns:
        ``(detections or None, probabilities float [K, len(recognizer.classes)])``.
    """
    if detector is None:
        return None, recognizer(face_crops(image, None, recognizer.crop)).float().cpu()
    dets = detector.detect(image, flip=True) if flip else detector.detect(image)
    if min_score > 0:
        dets = dets.above(min_score)
    if len(dets) == 0:
        return dets, torch.zeros(0, len(recognizer.classes))
    return dets, recognizer(face_crops(image, dets, recognizer.crop)).float().cpu()


def class_columns(classes: Sequence[str]) -> list[str]:
    """A recogniser's class names in canonical order (for tables and records)."""
    return sorted(classes, key=lambda c: EXPRESSIONS.index(c) if c in EXPRESSIONS else len(EXPRESSIONS))


def _rows(file: str, frame: int | None, dets: FaceDetections | None, probs: Tensor,
          classes: Sequence[str]) -> list[FaceExpression]:
    if dets is not None and len(dets) == 0:
        return [FaceExpression(file, frame)]
    out = []
    for k, p in enumerate(probs.tolist()):
        pr = dict(zip(classes, p))
        pr = {c: pr[c] for c in class_columns(classes)}
        row = FaceExpression(file, frame, k, expression=max(pr, key=pr.get), probabilities=pr)
        if dets is not None:
            row.box = tuple(dets.boxes[k].tolist())
            row.score = float(dets.scores[k])
            row.landmarks = [tuple(pt) for pt in dets.landmarks[k].tolist()]
        out.append(row)
    return out


# --- the whole run ------------------------------------------------------------------------------------
@dataclass
class PhotoSettings:
    """How :func:`recognize_photos` treats its inputs.

    Args:
        aligned: ``auto`` (crops by :func:`looks_like_crop`, photos detected), ``yes`` (every image
            is a face crop: no detection) or ``no`` (always detect).
        min_score: drop detections below this probability.
        flip: the detector's mirrored second pass.
        every: in videos, classify every ``every``-th frame.
    """

    aligned: str = "auto"
    min_score: float = 0.0
    flip: bool = True
    every: int = 1

    def __post_init__(self) -> None:
        if self.aligned not in ALIGNED_MODES:
            raise ValueError(f"aligned must be one of {', '.join(ALIGNED_MODES)}; got {self.aligned!r}")
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")


def recognize_photos(
    inputs: Sequence[str | os.PathLike],
    recognizer: Any,
    detector: Any | Callable[[], Any] | None = None,
    settings: PhotoSettings | None = None,
    *,
    annotate: str | os.PathLike | None = None,
    problems: list[Problem] | None = None,
) -> Iterator[FaceExpression]:
    """Recognise the expression of every face in image files, folders and videos.

    Args:
        inputs: files and folders (folders are searched recursively for image and video files).
        recognizer: an ExpressionRecognizer (:func:`load_recognizer`).
        detector: a face detector, or a no-argument callable building one on first need (so
            crops-only runs never load detector weights); ``None`` with ``aligned != "yes"``
            is an error once a photo needs detection.
        settings: :class:`PhotoSettings`.
        annotate: write annotated copies (boxes, landmarks, ``"label p"``): a file path when the
            inputs are one image file, else a folder (paths relative to the named folder; video
            frames as ``<stem>_f<frame>.jpg``).
        problems: a list that receives a :class:`Problem` per input that gave no result.

    Yields:
        :class:`FaceExpression` rows in input order; an image without a face gives one row with
        ``face=None``.
    """
    s = settings or PhotoSettings()
    problems = problems if problems is not None else []
    files, bad = expand_inputs(inputs)
    problems.extend(bad)
    out_file = _annotate_target(annotate, inputs, files)
    det_cache: list[Any] = []

    def one(image: Tensor, file: Path, base: Path, frame: int | None) -> list[FaceExpression]:
        hw = tuple(image.shape[1:])
        crop_mode = s.aligned == "yes" or (s.aligned == "auto" and looks_like_crop(hw, recognizer.crop))
        if crop_mode:
            warn_if_poor_crop(file, hw, recognizer.crop)
        elif not det_cache:
            det_cache.append(_build_detector(detector, file, _why_detect(hw, recognizer.crop, s.aligned)))
        dets, probs = recognize_image(image, recognizer, None if crop_mode else det_cache[0],
                                      min_score=s.min_score, flip=s.flip)
        rows = _rows(str(file), frame, dets, probs, recognizer.classes)
        if annotate is not None:
            target = out_file or _annotated_path(Path(annotate), file, base, frame)
            try:
                _write_annotated(image, dets, rows, target)
            except OSError as e:  # the faces found are results; only the drawing is lost
                problems.append(Problem(str(file), f"annotated copy not written to {target} ({e.strerror or e})"))
        return rows

    for file, base in files:
        try:
            if is_video_file(file):
                for frame, image in video_frames(file, s.every):
                    yield from one(image, file, base, frame)
            else:
                yield from one(read_image(file), file, base, None)
        except ImageError as e:
            problems.append(Problem(str(file), e.problem))
        except ImportError as e:
            problems.append(Problem(str(file), str(e)))
        except ValueError as e:
            msg = str(e)
            problems.append(Problem(str(file), msg.removeprefix(f"{file}: ")))
        except DetectorUnavailableError:
            raise
        except (RuntimeError, OSError) as e:  # a detector or model failure on this input only
            problems.append(Problem(str(file), f"{type(e).__name__}: {e}"))


def _annotate_target(annotate: str | os.PathLike | None, inputs: Sequence[Any],
                     files: list[tuple[Path, Path]]) -> Path | None:
    """The single output file when one image file is annotated, else ``None`` (a folder)."""
    if annotate is None:
        return None
    a = Path(annotate).expanduser()
    one_image = (len(inputs) == 1 and len(files) == 1 and not Path(inputs[0]).is_dir()
                 and not is_video_file(files[0][0]))
    if one_image and a.suffix.lower() in IMAGE_EXTENSIONS and not a.is_dir():
        return a
    return None


def _annotated_path(folder: Path, file: Path, base: Path, frame: int | None) -> Path:
    try:
        rel = file.relative_to(base)
    except ValueError:
        rel = Path(file.name)
    if frame is not None:
        return folder / rel.parent / f"{rel.stem}_f{frame:06d}.jpg"
    suffix = rel.suffix.lower() if rel.suffix.lower() in (".jpg", ".jpeg", ".png") else ".png"
    return folder / rel.with_suffix(suffix)


def _write_annotated(image: Tensor, dets: FaceDetections | None, rows: list[FaceExpression],
                     path: Path) -> None:
    from genfer.data.preprocess.draw import draw_detections

    labels = [f"{r.expression} {r.probabilities[r.expression]:.2f}" for r in rows if r.face is not None]
    if dets is None:  # a whole-image crop: frame the image, no landmarks
        h, w = image.shape[1:]
        box = torch.tensor([[0.0, 0.0, float(w), float(h)]])
        dets = FaceDetections(box, torch.zeros(1, 5, 2), torch.ones(1))
        pil = draw_detections(image, dets, labels, landmarks=False)
    else:
        pil = draw_detections(image, dets, labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil.save(path, quality=90) if path.suffix.lower() in (".jpg", ".jpeg") else pil.save(path)
