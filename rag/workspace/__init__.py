"""Who owns what: workspaces, saved conversations and feedback."""
