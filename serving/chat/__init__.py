"""``POST /v1/chat/completions``: protocol (pydantic models), service (logic), router (FastAPI)."""
