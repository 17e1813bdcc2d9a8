"""The browser chat page at ``/`` (one static HTML file using the same API)."""
