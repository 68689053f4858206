"""Alliance Digest: compile, edit and deliver a recurring news digest.

The pipeline core (:mod:`alliance_digest.pipeline`) is framework-free; Django
(:mod:`alliance_digest.db`) is the application shell around it.
"""

__version__ = "0.1.0"
