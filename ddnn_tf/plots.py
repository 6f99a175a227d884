"""One kind of picture: accuracy against a cost, a line per run or device."""

from ddnn_tf import files


def save_line_plot(series, xlabel, ylabel, path):
    """Writes a PNG with one marked line per series, each point annotated.

    Args:
        series: ``{line label: [(x, y, point label), ...]}``.
        xlabel, ylabel: axis titles.
        path: where the PNG goes (written whole, then renamed).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4))
    for label, points in series.items():
        points = sorted(points)
        axes.plot([x for x, _, _ in points], [y for _, y, _ in points], marker="o", label=label)
        for x, y, text in points:
            axes.annotate(str(text), (x, y), fontsize=7)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    files.atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    pyplot.close(figure)
