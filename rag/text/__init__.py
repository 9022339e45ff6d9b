"""Language-level text handling shared by several stages (sentence spans)."""
