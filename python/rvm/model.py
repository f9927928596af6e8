# SPDX-License-Identifier: GPL-3.0-or-later
"""The official repo's module layout: `from model import MattingNetwork` there is
`from rvm.model import MattingNetwork` here (the same class as rvm.MattingNetwork)."""
from . import MattingNetwork

__all__ = ["MattingNetwork"]
