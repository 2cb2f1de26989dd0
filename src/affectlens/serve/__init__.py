"""``affectlens serve``: REST jobs, a live WebSocket stream and a web UI (the ``[serve]`` extra).

``server.run`` starts it; ``app.create_app`` builds the FastAPI application."""
