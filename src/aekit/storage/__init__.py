"""Files that cannot be half-written or tampered with unnoticed, and saved models."""
