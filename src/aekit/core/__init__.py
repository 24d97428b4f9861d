"""Torch maths: the parts every model is composed of (networks, code distributions,
priors, likelihoods, corruption, feature scaling) and the composed module."""
