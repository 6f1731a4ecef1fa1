"""MTCNN's photo options: mirror-averaged O-Net, O-Net refinement, and the face-api demo criterion."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genfer.data.preprocess import mtcnn as M

sys.path.insert(0, str(Path(__file__).parent))
from preprocess_helpers import face_api_photos, mtcnn_weights_dir, photo_scores


def test_mirror_averaged_onet_is_mirror_equivariant():
    torch.manual_seed(0)
    m = M.MTCNN(flip_onet=True)
    for p in m.onet.parameters():
        torch.nn.init.normal_(p, std=0.1)
    crops = torch.randn(5, 3, 48, 48)
    with torch.no_grad():
        p, off, lm = m._onet(crops)
        pm, offm, lmm = m._onet(crops.flip(-1))
    torch.testing.assert_close(pm, p)
    # a mirrored crop's box: left offset = -right offset of the original, and vice versa
    torch.testing.assert_close(offm, torch.stack([-off[:, 2], off[:, 1], -off[:, 0], off[:, 3]], 1))
    swap = [1, 0, 2, 4, 3]
    torch.testing.assert_close(lmm[:, :5], 1 - lm[:, :5][:, swap])
    torch.testing.assert_close(lmm[:, 5:], lm[:, 5:][:, swap])
    with pytest.raises(ValueError, match="refine"):
        M.MTCNN(refine=-1)


@pytest.fixture(scope="module")
def weights():
    torch.set_num_threads(1)
    return mtcnn_weights_dir()


def test_refinement_only_adds_candidates(weights):
    """Refined boxes join O-Net's candidates, so each face's best score can only go up."""
    from genfer.data.io import read_image

    img = read_image(face_api_photos()[5], size=(384, 480))
    plain = M.load_mtcnn(weights).detect(img)
    refined = M.load_mtcnn(weights, refine=2).detect(img)
    assert len(plain) == len(refined) == 4
    for box, s in zip(plain.boxes, plain.scores):
        near = (refined.centers - (box[:2] + box[2:]) / 2).norm(dim=1) < 0.3 * (box[2] - box[0])
        assert bool(near.any()) and float(refined.scores[near].max()) >= float(s) - 1e-6


def test_photo_settings_meet_the_face_api_criterion(weights):
    """PHOTO_SETTINGS, mirrored pass, min face 40 px: all 22 faces at p >= 0.95, <= 1 false positive."""

    scores, false_pos = photo_scores(M.load_mtcnn(weights, min_face_size=40, **M.PHOTO_SETTINGS))
    assert len(scores) == 22
    assert all(s >= 0.95 for s in scores.values()), scores
    assert false_pos <= 1
