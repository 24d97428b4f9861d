"""The estimators: PCA and the neural autoencoders, their registry, generation,
outer scores and export.

Importing any module of this package first defines every estimator class (below),
so that the registry's table of kinds is full whichever module asks it first.
"""

from aekit.models import autoencoders, pca, quantised, vae  # noqa: F401  (each class enters the registry)
