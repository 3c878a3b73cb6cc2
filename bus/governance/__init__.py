"""Catalog governance: compatibility against the approved lock file, overlap, AsyncAPI."""
