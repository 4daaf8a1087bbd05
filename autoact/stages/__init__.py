"""The pipeline stages behind the seed scripts (self-instruct, tool selection, filtering)."""
