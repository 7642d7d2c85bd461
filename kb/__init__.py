"""红领资源库 domain library: documents, vocabulary, search, kits.

Importing ``kb`` is cheap: no model, no torch, no index is loaded at import time.
"""

__version__ = "0.1.0"
