"""Tabular data end to end with aekit: scale, fit, codes as classifier features,
and the reconstruction error of every row.

The data is scikit-learn's bundled breast-cancer table (569 tumours, 30 measured
features in their own units, from 0.001 to 4000). Run it with::

    python examples/tabular.py

It prints the test accuracy of a logistic regression on the raw features, on
4 PCA codes and on 4 autoencoder codes, and the rows the autoencoder
reconstructs worst (candidates for a closer look).
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import aekit

LATENT = 4


def main(epochs: int | None = None, seed: int = 0) -> dict[str, float]:
    """Run the example; return the test accuracies by feature set."""
    frame = load_breast_cancer(as_frame=True)
    X, y = frame.data, frame.target  # a DataFrame with named columns, and the labels
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y
    )

    # scale="standard": each feature is standardised inside the model, and every
    # reconstruction comes back in the feature's own units
    ae = aekit.Autoencoder(LATENT, scale="standard", epochs=epochs, random_state=seed)
    ae.set_output(transform="pandas")  # codes as a DataFrame: autoencoder0, autoencoder1, ...
    codes = ae.fit(X_train).transform(X_test)
    print(f"autoencoder codes: {list(codes.columns)}")

    classifiers = {
        "raw features": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        f"{LATENT} PCA codes": make_pipeline(
            StandardScaler(), aekit.PCA(LATENT), LogisticRegression(max_iter=5000)
        ),
        f"{LATENT} autoencoder codes": make_pipeline(
            aekit.Autoencoder(LATENT, scale="standard", epochs=epochs, random_state=seed),
            LogisticRegression(max_iter=5000),
        ),
    }
    accuracy = {}
    for name, pipeline in classifiers.items():
        accuracy[name] = pipeline.fit(X_train, y_train).score(X_test, y_test)
        print(f"test accuracy with {name:>24}: {accuracy[name]:.3f}")

    # the reconstruction error of each row, in standardised units so that every
    # feature counts alike (in raw units the largest features would decide)
    scale = X_train.std(ddof=0).to_numpy()
    errors = (((X_test.to_numpy() - ae.reconstruct(X_test)) / scale) ** 2).mean(axis=1)
    worst = np.argsort(errors)[::-1][:5]
    print("rows reconstructed worst (mean squared error in standard deviations):")
    for i in worst:
        print(f"  row {X_test.index[i]:>3}  error {errors[i]:7.3f}  label {y_test.iloc[i]}")
    return accuracy


if __name__ == "__main__":
    main()
