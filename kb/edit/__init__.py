"""Commands that change the evidence folder for an editor: ``kb add`` (BibTeX import) and ``kb new-claim``.

Every write is atomic and happens only after every check passed; what ``kb add`` writes passes ``kb check``
(``verify``), and which entries are one work is :mod:`kb.bibtex.identity`'s decision.
"""
