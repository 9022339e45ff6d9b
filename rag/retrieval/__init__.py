"""Questions to ranked chunks: the query built from a conversation, the library."""
