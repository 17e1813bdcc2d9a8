"""xprompt's multilingual chat endpoint: OpenAI-compatible, replies in the user's language.

Depends on :mod:`xprompt`; nothing in xprompt imports it. Start it with
``xprompt serve`` or :func:`serving.server.run`; embed it with
:func:`serving.app.create_app`.
"""
