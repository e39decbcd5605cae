"""Test support code shared by the test packages (data paths, models, the verifier corpus)."""
