"""NLP task families. Each folder provides one :class:`attnkit.tasks.base.Task`."""

from attnkit.tasks.base import Task
from attnkit.tasks.registry import get_model_builder, get_task, register_model, register_task

__all__ = ["Task", "get_model_builder", "get_task", "register_model", "register_task"]
