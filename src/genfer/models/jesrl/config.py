"""JESRL's hyper-parameters; the defaults are the released code's (``train.py``'s argparse defaults,
``train_VGG_multi.py``'s classifier settings)."""

from __future__ import annotations

from dataclasses import dataclass

from genfer.core.config import MethodConfig
from genfer.data.labels import MULTIPIE_CLASSES


@dataclass
class JESRLConfig(MethodConfig):
    """Networks, losses and the GAN / synthesis / recogniser schedule of JESRL.

    Released names are in brackets.

    Args:
        image_size: square input side (256 released; a multiple of 32).
        channels: image channels (3).
        crop, init_from, init_keys: as in ``genfer.core.config.MethodConfig``.
        classes: the expression classes, in the order of the dataset's labels (Multi-PIE's
            ``disgust scream smile squint surprise neutral`` [-a]); must equal the training data's
            class list (SynthFace, RAF-DB: genfer's 7 basic classes). One latent chunk per class.
        neutral: the class whose faces are paired with every training face in the synthesis.
        enc_widths: encoder stage widths (64, 128, 256, 512, 512); the last is the latent channels.
        dec_widths: decoder stage widths (512, 256, 128, 64): the encoder's first four, reversed.
        d_widths: discriminator stage widths (64, 128, 256, 512).
        label_copy: times the change vector is tiled into the decoder input [label_copy].
        vgg_width: divides every VGG19-BN trunk width (1 = released); the trunk's last width must
            equal the latent channels (the recogniser concatenates them).
        vgg_hidden: hidden FC width of the recogniser and the perceptual classifier (4096); 0 = no
            hidden FCs, a global average pool into the last layer (not released: small trunks
            trained from random init learn under it, and not under the 7x7 head, see the docs).
        lambda_vgg: VGG perceptual weight [lambda_vgg_loss].
        lambda_cls: weight of the perceptual net's cross-entropy on the swaps C and D against the
            expressions they should wear (0 = released: no such term). StarGAN's domain
            classification loss, with the fixed perceptual classifier as the classifier.
        lambda_l1: L1(A + B, C + D) weight [lambda_l1_loss].
        lambda_tv: total variation of C and D [lambda_tv_loss].
        lambda_l2: self-reconstruction MSE weight [lambda_l2_loss].
        lambda_d: weight of the discriminator loss [lambda_D].
        g_max: the discriminator is not updated while the last generator loss is >= this [G_max].
        noise_std: standard deviation of the noisy BCE targets N(1, s) and N(0, s) [std].
        alpha5: add the half-swaps z_A + (z_C - z_A) / 2 as extra fakes [alpha5].
        mismatch_negatives: also show D the real faces A and B under a wrong expression label, as
            fakes (the matching-aware discriminator of GAN-CLS, Reed et al. 2016). Not in the
            release: it gives D the label signal from the first step, when the fakes are still
            near-copies of the reals (see the docs page).
        distinct_pairs: re-pair the ``b`` faces within each GAN batch so that every pair's two
            expressions differ where the batch allows it, as the release's pairs always do (it
            drew B among the faces without A's expression); off, about 1 pair in ``num_classes``
            shares its expression and its swap asks for no change.
        d_projection: projection discriminators (Miyato & Koyama 2018): each D adds the inner
            product of a learnt label embedding with its features to the logit, a label signal at
            the last layer beside the release's label maps at the input. Not in the release.
        gan_lr, gan_betas, gan_weight_decay: Adam of G (Enc + Dec) and D (D1 + D2).
        gan_lr_step, gan_lr_gamma: StepLR of the GAN optimizers (iterations, factor).
        rec_lr, rec_momentum, rec_weight_decay: SGD of the recogniser (and the perceptual net).
        rec_optim: optimizer of the recogniser stages: ``sgd`` (released) or ``adam`` (betas
            (0.9, 0.999), no weight decay; at ``rec_lr``).
        rec_lr_step, rec_lr_gamma: StepLR of the recogniser.
        rec_batch: recogniser batch size (real images per step).
        rounds: GAN / recogniser alternations (released: 50 GAN epochs / 5).
        gan_epochs: GAN epochs per round (5: synthesis every 5th epoch).
        rec_epochs: recogniser epochs per round (4).
        gan_epoch_steps: iterations of one GAN epoch; the default is Multi-PIE's 6,124 training faces
            / batch 10. (The release ran 1; ``faithful`` restores that.)
        rec_epoch_steps: iterations of one recogniser epoch (6,124 / 12).
        curriculum: extra synthetic batches per real batch by recogniser epoch: pairs
            ``(first epoch, batches)`` (released: 1 / 2 / 3 / 6 from epoch 0 / 10 / 20 / 30).
        synth_neutrals: neutral faces paired with each training face in the synthesis (6).
        perceptual_steps: iterations of the first stage, which trains the perceptual VGG19-BN
            expression classifier (0: no such stage; the net then comes from ``perceptual_from``, or
            stays at its initialisation).
        perceptual_optim: optimizer of the perceptual stage: ``sgd`` (momentum and weight decay as the
            recogniser's) or ``adam`` (betas (0.9, 0.999), no weight decay).
        perceptual_lr: learning rate of the perceptual stage.
        perceptual_schedule: its learning-rate schedule: ``steplr`` (the recogniser's step decay) or
            one of ``cosine``, ``linear``, ``constant`` over the stage's steps. A decay to zero ends
            the stage on settled weights: at a constant rate, P's held-out accuracy moves by
            0.1-0.2 between evaluations, and the net the GAN learns from is wherever it stopped.
        perceptual_from: a genfer JESRL run directory (or its ``model.safetensors``) whose perceptual
            net to use instead of training one.
        imagenet_weights: torchvision ``vgg19_bn`` ImageNet weights (a file the user supplies),
            loaded into the perceptual net and the recogniser trunk before training; empty = random
            init (offline), see the docs for what that changes.
        channels_last: run the convolutions on channels-last activations (faster on CPU; the same
            function up to float rounding; parameters stay contiguous).
        faithful: reproduce the release where genfer deliberately differs: one iteration per GAN
            epoch, and the TV term on detached images (no gradient).
    """

    image_size: int = 256
    channels: int = 3
    classes: tuple[str, ...] = MULTIPIE_CLASSES
    neutral: str = "neutral"
    enc_widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    dec_widths: tuple[int, ...] = (512, 256, 128, 64)
    d_widths: tuple[int, ...] = (64, 128, 256, 512)
    label_copy: int = 20
    vgg_width: int = 1
    vgg_hidden: int = 4096
    lambda_vgg: float = 15.0
    lambda_cls: float = 0.0
    lambda_l1: float = 5.0
    lambda_tv: float = 5.0
    lambda_l2: float = 10.0
    lambda_d: float = 0.25
    g_max: float = 22.0
    noise_std: float = 0.2
    alpha5: bool = True
    mismatch_negatives: bool = False
    distinct_pairs: bool = False
    d_projection: bool = False
    gan_lr: float = 2e-4
    gan_betas: tuple[float, float] = (0.5, 0.999)
    gan_weight_decay: float = 1e-5
    gan_lr_step: int = 300
    gan_lr_gamma: float = 0.97
    rec_lr: float = 1e-3
    rec_optim: str = "sgd"
    rec_momentum: float = 0.9
    rec_weight_decay: float = 5e-4
    rec_lr_step: int = 1800
    rec_lr_gamma: float = 0.97
    rec_batch: int = 12
    rounds: int = 10
    gan_epochs: int = 5
    rec_epochs: int = 4
    gan_epoch_steps: int = 613
    rec_epoch_steps: int = 511
    curriculum: tuple[tuple[int, int], ...] = ((0, 1), (10, 2), (20, 3), (30, 6))
    synth_neutrals: int = 6
    perceptual_steps: int = 0
    perceptual_optim: str = "sgd"
    perceptual_lr: float = 1e-3
    perceptual_schedule: str = "steplr"
    perceptual_from: str = ""
    imagenet_weights: str = ""
    channels_last: bool = True
    faithful: bool = False

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        self.classes = tuple(self.classes)
        self.curriculum = tuple(tuple(int(v) for v in p) for p in self.curriculum)
        if len(self.classes) < 2:
            raise ValueError(f"model.classes: at least 2 classes, got {list(self.classes)}")
        if self.neutral not in self.classes:
            raise ValueError(f"model.neutral: {self.neutral!r} is not one of model.classes {list(self.classes)}")
        if self.image_size % 32:
            raise ValueError(f"model.image_size: a multiple of 32, got {self.image_size}")
        if len(self.enc_widths) != 5 or tuple(self.dec_widths) != tuple(self.enc_widths[3::-1]):
            raise ValueError("model.dec_widths must be the first four model.enc_widths reversed "
                             f"(additive skips); got enc {list(self.enc_widths)}, dec {list(self.dec_widths)}")
        if 512 // self.vgg_width != self.enc_widths[-1]:
            raise ValueError(f"model.vgg_width: the VGG trunk's last width 512/{self.vgg_width} must equal the "
                             f"latent channels {self.enc_widths[-1]}")
        for name in ("perceptual_optim", "rec_optim"):
            if getattr(self, name) not in ("sgd", "adam"):
                raise ValueError(f"model.{name}: 'sgd' or 'adam', got {getattr(self, name)!r}")
        if self.perceptual_schedule not in ("steplr", "cosine", "linear", "constant"):
            raise ValueError("model.perceptual_schedule: 'steplr', 'cosine', 'linear' or 'constant', "
                             f"got {self.perceptual_schedule!r}")
        if self.enc_widths[-1] < len(self.classes):
            raise ValueError("model.enc_widths: the latent needs at least one channel per class")

    @property
    def latent(self) -> int:
        return self.enc_widths[-1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)
