"""``python -m autograder dev check|sync``: the maintainer's check that every place follows the manifest.

Like ``rustlings dev check``: ``solutions/exercises.toml`` names the exercises once, and ``dev check``
finds every place that disagrees with it or with itself:

- ``manifest``  the manifest reads and every field is of the right kind;
- ``places``    each exercise has its solution (defining its public names), visible checks, grader and
                hints, and nothing has a file of an exercise the manifest does not name;
- ``markers``   both pytest marker lists (``pyproject.toml``, the learner bundle's) are the manifest's;
- ``readme``    the README tables generated from the manifest are current (``dev sync`` rewrites them);
- ``release``   ``exercises/`` is what ``python -m autograder release`` makes, and every stub has its TODO;
- ``points``    each exercise's checks sum to the manifest's points (the graders collected, not run);
- ``stubs``     no stub already passes: each fails its visible checks and earns 0 from the graders;
- ``solutions`` every solution passes its visible checks and earns every point from the graders;
- ``catalogue`` every check is failed by some known mistake of the catalogue (grades it: slow).

``--root DIR`` checks another copy of the repository (its own code does the checking).


The code: :mod:`.places` (what follows the manifest, ``dev sync``, the checks that read files),
:mod:`.graded` (the checks that run the graders), :mod:`.command` (the verb).
"""
