"""Celery workers: the only processes that load models. Tasks import services and the ML library in their bodies."""
