# SPDX-License-Identifier: GPL-3.0-or-later
"""The official repo's module layout: `from inference import convert_video` there is
`from rvm.inference import convert_video` here (the same function as rvm.convert_video)."""
from . import convert_video

__all__ = ["convert_video"]
