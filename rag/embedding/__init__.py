"""Texts to unit-length vectors: sentence-transformers on torch, or the same model on onnxruntime."""
