"""The web app: a thin FastAPI + Jinja2 shell over kb/."""
