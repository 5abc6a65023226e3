"""Book-figure reproductions (Sutton & Barto 2018), one function per figure.

Each ``figure_X_Y(out_dir, *, quick=False, seed=0)`` computes the figure, writes
``out_dir/figure_X_Y.png`` and returns a result dict::

    {"figure": "figure_4_1", "title": "...", "png": "/abs/path/figure_4_1.png",
     "checks": {name: {"value": float, "expected": float, "tolerance": float,
                       "passed": bool, "source": "book" | "derived"}},
     "notes": ["...", ...]}

``rlcore.book.report.write_summary(out_dir, results)`` turns a list of them into ``summary.md``
(and ``checks.json``). The functions are exported as ``figures.figure_X_Y``; chapter modules are
imported lazily through the registry, so this package imports nothing heavy.
"""
