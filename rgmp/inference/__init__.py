"""Streaming inference session."""

from rgmp.inference.session import FrameResult, Session, SessionError, SessionOptions

__all__ = ["FrameResult", "Session", "SessionError", "SessionOptions"]
