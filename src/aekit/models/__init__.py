"""The estimators: PCA and the neural autoencoders, their registry, generation,
outer scores and export."""
