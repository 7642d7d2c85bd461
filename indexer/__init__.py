"""Turns library files into an index: chunking, embedding, atomic builds, upload conversion."""
