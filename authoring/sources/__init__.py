"""The exercise sources: one module per assignment, each a ``build(nb)`` that adds the notebook's
cells to an :class:`authoring.notebook.Builder`. These are the files an instructor edits."""
