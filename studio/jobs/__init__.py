"""Heavy work, owned and bounded: the job registry and the worker processes behind it."""

from .registry import KINDS, Job, JobRegistry, Limits

__all__ = ["KINDS", "Job", "JobRegistry", "Limits"]
