"""newsbeam's pipeline: one module per stage, assembled in ``graph``.

parse -> clean -> language -> dedup -> tagging -> routing
"""
