"""``python -m kb`` is the same as the ``kb`` command."""

from kb.cli import run

if __name__ == "__main__":
    run()
