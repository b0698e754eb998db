"""`rlm mcp`: rlm as a Model Context Protocol server, so coding agents and desktop assistants can ask
questions of documents too large for their own window. app.py builds the server (the official `mcp`
SDK), jobs.py does the work (a Conversation per call, progress, cancellation, spending cap), roots.py
decides which sources a client may name."""
