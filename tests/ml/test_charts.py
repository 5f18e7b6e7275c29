from ecom_ai.ml.charts import MAX_MARKERS, history_charts, history_series


def test_curves_by_epoch_with_escaped_names():
    history = [
        {"epoch": 1, "loss": 1.0, "<b>auc": 0.6},
        {"epoch": 2, "loss": 0.5, "<b>auc": 0.7},
        {"epoch": 3, "loss": float("nan")},
    ]
    charts = history_charts(history)
    assert "Loss per epoch" in charts["loss"] and charts["loss"].count("<circle") == 2
    assert "&lt;b&gt;auc" in charts["metrics"] and "<b>auc" not in charts["metrics"]


def test_restarting_epochs_are_plotted_in_order():
    history = [{"epoch": e, "loss": 1.0 / e} for e in (1, 2, 3)] + [{"epoch": e, "loss": 2.0 / e} for e in (1, 2)]
    assert [x for x, _ in history_series(history, ["loss"])["loss"]] == [1, 2, 3, 4, 5]
    assert "Loss per update" in history_charts(history)["loss"]


def test_long_series_and_empty_history():
    history = [{"epoch": e, "loss": 1.0 / e} for e in range(1, MAX_MARKERS + 50)]
    assert history_charts(history)["loss"].count("<circle") == 1
    empty = history_charts([])
    assert "no data yet" in empty["loss"] and "no metrics reported" in empty["metrics"]
    assert history_charts([{"epoch": "x"}, "junk", None])["loss"].count("<polyline") == 0
