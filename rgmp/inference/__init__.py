"""Streaming inference session."""

from rgmp.inference.network import PreparedNetwork
from rgmp.inference.session import FrameResult, Session, SessionError, SessionOptions, parse_scales

__all__ = ["FrameResult", "PreparedNetwork", "Session", "SessionError", "SessionOptions", "parse_scales"]
