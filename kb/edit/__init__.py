"""Commands that change the evidence folder for an editor: ``kb add`` (BibTeX import) and ``kb new-claim``.

Every write is atomic and happens only after every check passed.
"""
