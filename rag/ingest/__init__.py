"""Files to stored chunks: loading each format, sections, chunking and the pipeline that writes them."""
