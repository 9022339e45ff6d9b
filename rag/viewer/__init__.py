"""A cited source's original: a PDF page drawn with the passage boxed, or its section, marked."""
