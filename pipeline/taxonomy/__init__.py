"""Topic taxonomy, term matcher and scorer: the pure core of the tagging stage.

No Beam here. ``TopicTagger().tag(title, body, language)`` returns the ``TopicTag``s an
article gets; ``pipeline.tagging.TagTopics`` wraps it for Beam.
"""

from pipeline.taxonomy.matcher import Entry, Hit, TermMatcher, fold
from pipeline.taxonomy.schema import Taxonomy, TaxonomyError, load_taxonomy
from pipeline.taxonomy.scorer import TagScore, TopicTagger

__all__ = [
    "Entry",
    "Hit",
    "TagScore",
    "Taxonomy",
    "TaxonomyError",
    "TermMatcher",
    "TopicTagger",
    "fold",
    "load_taxonomy",
]
