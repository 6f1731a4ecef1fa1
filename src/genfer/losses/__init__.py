"""Training losses as plain functions of tensors (and of the networks they need, passed in).

- ``adversarial``: GAN objectives on critic scores (WGAN, non-saturating, hinge, LSGAN), the
  classifier-as-discriminator cross-entropy, and the WGAN-GP and R1 gradient penalties.
- ``reconstruction``: L1 / L2 between images, optionally restricted to a mask.
- ``perceptual``: distances between the features of a given extractor, and LPIPS as a loss.
- ``identity``: cosine distance between the embeddings of a given face embedder.
- ``tv``: total variation, a smoothness regulariser (GANimation's attention masks).

Nothing here builds or downloads a network: extractors and embedders are arguments.
"""
