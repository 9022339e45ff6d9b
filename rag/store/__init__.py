"""The Milvus-backed vector store: its collections, writes, search and index plans."""
